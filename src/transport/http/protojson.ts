/**
 * Strict protojson → RateLimitRequest, as the reference's /json reads its body (Go `protojson.Unmarshal`): an unknown
 * field, a field given twice (by its JSON and its proto name), or a value of the wrong JSON type is an error (HTTP
 * 400), where the generated lenient `fromJSON` would coerce or ignore it. Accepted forms follow the protobuf JSON
 * mapping: lowerCamelCase or proto field names; `null` means "not set"; 64- and 32-bit integers as JSON numbers or
 * decimal strings; enums by name or number; google.protobuf.UInt64Value as its bare value.
 */
import type {
  RateLimitDescriptor,
  RateLimitDescriptor_Entry,
  RateLimitDescriptor_RateLimitOverride,
} from "../../gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import type { RateLimitRequest } from "../../gen/envoy/service/ratelimit/v3/rls.js";
import { RateLimitUnit } from "../../gen/envoy/type/v3/ratelimit_unit.js";

/** The body is JSON but not a RateLimitRequest in protojson; the message names the offending path. */
export class ProtojsonError extends Error {
  override readonly name = "ProtojsonError";
}

type JsonObject = Readonly<Record<string, unknown>>;

/** Field spec of one message: JSON name → proto name. */
type Fields = Readonly<Record<string, string>>;

const REQUEST: Fields = { domain: "domain", descriptors: "descriptors", hitsAddend: "hits_addend" };
const DESCRIPTOR: Fields = {
  entries: "entries",
  limit: "limit",
  hitsAddend: "hits_addend",
  isNegativeHits: "is_negative_hits",
};
const ENTRY: Fields = { key: "key", value: "value" };
const OVERRIDE: Fields = { requestsPerUnit: "requests_per_unit", unit: "unit" };

const UINT32_MAX = 4_294_967_295;
const UINT64_MAX = 2n ** 64n - 1n;
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const DECIMAL = /^-?\d+$/;

/** Parses an already JSON-decoded body. Throws ProtojsonError. */
export function requestFromProtojson(value: unknown): RateLimitRequest {
  const fields = message(value, REQUEST, "");
  return {
    domain: str(fields["domain"], "domain"),
    descriptors: list(fields["descriptors"], "descriptors").map((d, i) => descriptor(d, `descriptors[${i}]`)),
    hitsAddend: Number(int(fields["hits_addend"], "hits_addend", 0n, BigInt(UINT32_MAX)) ?? 0n),
  };
}

function descriptor(value: unknown, path: string): RateLimitDescriptor {
  const fields = message(value, DESCRIPTOR, path);
  const limit = fields["limit"];
  return {
    entries: list(fields["entries"], `${path}.entries`).map((e, j) => entry(e, `${path}.entries[${j}]`)),
    limit: limit === undefined || limit === null ? undefined : override(limit, `${path}.limit`),
    // google.protobuf.UInt64Value is written as its bare value; null leaves it unset.
    hitsAddend: int(fields["hits_addend"], `${path}.hits_addend`, 0n, UINT64_MAX),
    isNegativeHits: bool(fields["is_negative_hits"], `${path}.is_negative_hits`),
  };
}

function entry(value: unknown, path: string): RateLimitDescriptor_Entry {
  const fields = message(value, ENTRY, path);
  return { key: str(fields["key"], `${path}.key`), value: str(fields["value"], `${path}.value`) };
}

function override(value: unknown, path: string): RateLimitDescriptor_RateLimitOverride {
  const fields = message(value, OVERRIDE, path);
  return {
    requestsPerUnit: Number(
      int(fields["requests_per_unit"], `${path}.requests_per_unit`, 0n, BigInt(UINT32_MAX)) ?? 0n,
    ),
    unit: unit(fields["unit"], `${path}.unit`),
  };
}

/** Checks an object against its field spec; returns its values keyed by proto name (absent = undefined). */
function message(value: unknown, spec: Fields, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtojsonError(
      path === "" ? "body must be a JSON object (a RateLimitRequest)" : `${path}: expected a JSON object`,
    );
  }
  const out: Record<string, unknown> = {};
  const protoNames = new Set(Object.values(spec));
  for (const [name, v] of Object.entries(value as JsonObject)) {
    const proto = spec[name] ?? (protoNames.has(name) ? name : undefined);
    if (proto === undefined) throw new ProtojsonError(`${at(path, name)}: unknown field`);
    if (Object.hasOwn(out, proto)) throw new ProtojsonError(`${at(path, name)}: duplicate field`);
    out[proto] = v;
  }
  return out;
}

function at(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function list(value: unknown, path: string): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProtojsonError(`${path}: expected a JSON array`);
  return value;
}

function str(value: unknown, path: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new ProtojsonError(`${path}: expected a JSON string`);
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new ProtojsonError(`${path}: expected true or false`);
  return value;
}

/** An integer field: a JSON number with an integral value or a decimal string, within [min, max]. */
function int(value: unknown, path: string, min: bigint, max: bigint): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  let n: bigint | undefined;
  if (typeof value === "number" && Number.isInteger(value)) n = BigInt(value);
  else if (typeof value === "string" && DECIMAL.test(value)) n = BigInt(value);
  if (n === undefined) throw new ProtojsonError(`${path}: expected an integer`);
  if (n < min || n > max) throw new ProtojsonError(`${path}: ${n} is out of range [${min}, ${max}]`);
  return n;
}

/**
 * `envoy.type.v3.RateLimitUnit` by name, or by number (any int32, as protojson accepts for open enums; the mapping
 * to the domain decides which numbers mean a unit).
 */
function unit(value: unknown, path: string): RateLimitUnit {
  if (value === undefined || value === null) return RateLimitUnit.UNKNOWN;
  if (typeof value === "number" && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) {
    return value as RateLimitUnit;
  }
  if (typeof value === "string" && value !== "UNRECOGNIZED") {
    const known = (RateLimitUnit as unknown as Record<string, unknown>)[value];
    if (typeof known === "number") return known;
  }
  throw new ProtojsonError(`${path}: ${JSON.stringify(value)} is not a RateLimitUnit`);
}
