/**
 * Optional parts of a Decision: the RateLimit-* response headers (LIMIT_RESPONSE_HEADERS_ENABLED) and the dynamic
 * metadata (RESPONSE_DYNAMIC_METADATA), shaped exactly as envoyproxy/ratelimit's `rateLimit*Header` and
 * `ratelimitToMetadata` / `descriptorToStruct` build them.
 */
import type { Descriptor, DescriptorStatus, Header, LimitRule, RateLimitRequest } from "../domain/types.js";
import type { EngineOptions } from "./options.js";
import { SLOT_UNLIMITED } from "./plan.js";

type HeaderNames = NonNullable<EngineOptions["responseHeaders"]>;
type JsonObject = Record<string, unknown>;

/**
 * The three headers of the chosen status (the one closest to its limit, or an over-limit non-quota one): its
 * requests_per_unit, its limit_remaining and the seconds until its window resets. The reference's limit header
 * carries only the mandatory part of the draft (no quota policy). Beyond the reference, a refused request (`refused`:
 * the overall answer is OVER_LIMIT) also gets `Retry-After` (RFC 9110) with the same seconds as the reset header: for
 * every algorithm that is the time until the request could pass.
 */
export function buildResponseHeaders(
  names: HeaderNames,
  chosen: DescriptorStatus,
  refused: boolean,
): readonly Header[] {
  const limit = chosen.currentLimit;
  const reset = String(chosen.durationUntilResetSeconds ?? 0);
  const headers = [
    { key: names.limitHeader, value: String(limit === undefined ? 0 : limit.requestsPerUnit) },
    { key: names.remainingHeader, value: String(chosen.limitRemaining) },
    { key: names.resetHeader, value: reset },
  ];
  if (refused && chosen.code === "OVER_LIMIT") headers.push({ key: "Retry-After", value: reset });
  return headers;
}

/**
 * `{ domain, descriptors: [{ entries: ["k=v", …], limit?, hitsAddend? }], hitsAddend?, metadata? }`:
 * - every request descriptor, in order; `limit` is the override in protobuf text form (`requests_per_unit:10
 *   unit:MINUTE`); `hitsAddend` only when the descriptor carried one on the wire;
 * - top-level `hitsAddend` when the request-level hits_addend is non-zero;
 * - `metadata`: the rule `metadata` of every descriptor that passed (not unlimited, status OK), deep-merged in
 *   descriptor order: nested objects merge recursively, otherwise the first value set wins.
 */
export function buildDynamicMetadata(
  request: RateLimitRequest,
  statuses: readonly DescriptorStatus[],
  slots: readonly number[],
  rules: readonly (LimitRule | undefined)[],
): Readonly<JsonObject> {
  const fields: JsonObject = { domain: request.domain, descriptors: request.descriptors.map(descriptorToJson) };
  if (request.hitsAddend !== undefined && request.hitsAddend !== 0) fields["hitsAddend"] = request.hitsAddend;
  let merged: JsonObject | undefined;
  for (let i = 0; i < statuses.length; i++) {
    if (slots[i] === SLOT_UNLIMITED || statuses[i]?.code !== "OK") continue;
    const metadata = rules[i]?.metadata;
    if (metadata === undefined) continue;
    merged ??= {};
    mergeInto(merged, metadata);
  }
  if (merged !== undefined && Object.keys(merged).length > 0) fields["metadata"] = merged;
  return fields;
}

function descriptorToJson(d: Descriptor): JsonObject {
  const out: JsonObject = { entries: d.entries.map((e) => `${e.key}=${e.value}`) };
  if (d.limit !== undefined) {
    out["limit"] = `requests_per_unit:${d.limit.requestsPerUnit} unit:${d.limit.unit.toUpperCase()}`;
  }
  if (d.hitsAddend !== undefined) out["hitsAddend"] = d.hitsAddend;
  return out;
}

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep-merges `src` into `dest` without ever aliasing (so rule metadata is never mutated by a later merge). */
function mergeInto(dest: JsonObject, src: Readonly<JsonObject>): void {
  for (const [k, v] of Object.entries(src)) {
    if (!Object.hasOwn(dest, k)) {
      setField(dest, k, cloneJson(v));
      continue;
    }
    const existing = dest[k];
    if (isPlainObject(existing) && isPlainObject(v)) mergeInto(existing, v);
  }
}

function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isPlainObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) setField(out, k, cloneJson(x));
    return out;
  }
  return v;
}

/** Sets an own data property, even for a key like `__proto__` that plain assignment would treat specially. */
function setField(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
