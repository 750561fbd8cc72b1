/**
 * How one parsed top-level item (schema.ts RawDescriptor) is stored in packed rules (packed-format.ts).
 *
 * Almost always as compact JSON in UTF-8: short field names, fields at their default left out, and every YAML path
 * that is its parent's path plus the usual suffix left out (the encoder leaves a path out only when it is exactly
 * that, so decoding is exact whatever the schema writes). A typical rule takes about 70 bytes instead of the 375 of
 * the item written out in full, which is less to write in the worker, to hold on the serving thread and to read on
 * first use (issue 12). JSON is three to four times cheaper to write and read than node:v8's serialization, which
 * stores the rare item JSON cannot hold exactly (a bigint, an infinity or NaN in `metadata` or an extension value).
 */
import { deserialize, serialize } from "node:v8";
import type { RawExtension } from "./limit-keys.js";
import type { RawDescriptor, RawRateLimit, RawReplace } from "./schema.js";

/** The encodings an entry's meta records. */
export const ITEM_JSON = 0;
export const ITEM_V8 = 1;

/** An encoded item: JSON is kept as its text until packing writes it, so the worker holds one string per item. */
export type EncodedItem =
  | { readonly encoding: typeof ITEM_JSON; readonly text: string }
  | { readonly encoding: typeof ITEM_V8; readonly bytes: Uint8Array };

/** The boolean fields of a descriptor, as bits of its `f`. */
const FLAGS = ["shadowMode", "quotaMode", "detailedMetric", "valueToMetric", "shareThreshold"] as const;
type Flag = (typeof FLAGS)[number];
const flagBit = (name: Flag): number => 1 << FLAGS.indexOf(name);
const hasFlag = (flags: number, name: Flag): boolean => (flags & flagBit(name)) !== 0;

/** A descriptor in compact JSON. `p` is absent when it is the expected path. */
interface CompactDescriptor {
  p?: string;
  k: string;
  v?: string;
  r?: CompactLimit;
  rs?: CompactLimit[];
  /** rateLimitsPath, when not `<p>.rate_limits`. */
  rp?: string;
  d?: CompactDescriptor[];
  f?: number;
  m?: Readonly<Record<string, unknown>>;
}

interface CompactLimit {
  p?: string;
  u?: string;
  n?: number;
  x?: 1;
  nm?: string;
  /** Replaces: [name] or [name, path] when the path is not `<p>.replaces[i].name`. */
  rr?: [string, string?][];
  /** Extensions: [yaml key, value] or [yaml key, value, path] when the path is not `<p>.<key>`. */
  e?: [string, unknown, string?][];
}

export function encodeItem(item: RawDescriptor): EncodedItem {
  if (jsonExact(item)) return { encoding: ITEM_JSON, text: JSON.stringify(compactDescriptor(item, "")) };
  return { encoding: ITEM_V8, bytes: serialize(item) };
}

/** Bytes `item` takes in PackedDomain.items. */
export function encodedLength(item: EncodedItem): number {
  return item.encoding === ITEM_JSON ? Buffer.byteLength(item.text) : item.bytes.byteLength;
}

/** Writes `item` at `at` in `target` (a Buffer over PackedDomain.items). */
export function writeEncoded(item: EncodedItem, target: Buffer, at: number): void {
  if (item.encoding === ITEM_JSON) target.write(item.text, at);
  else target.set(item.bytes, at);
}

const decoder = new TextDecoder();

export function decodeItem(encoding: number, bytes: Uint8Array): RawDescriptor {
  if (encoding === ITEM_V8) return deserialize(bytes) as RawDescriptor;
  return fullDescriptor(JSON.parse(decoder.decode(bytes)) as CompactDescriptor, "");
}

function compactDescriptor(d: RawDescriptor, expectedPath: string): CompactDescriptor {
  const out: CompactDescriptor = { k: d.key };
  if (d.path !== expectedPath) out.p = d.path;
  if (d.value !== "") out.v = d.value;
  if (d.rateLimit !== undefined) out.r = compactLimit(d.rateLimit, `${d.path}.rate_limit`);
  if (d.rateLimits !== undefined) out.rs = d.rateLimits.map((rl, i) => compactLimit(rl, `${d.path}.rate_limits[${i}]`));
  if (d.rateLimitsPath !== `${d.path}.rate_limits`) out.rp = d.rateLimitsPath;
  if (d.descriptors.length > 0) {
    out.d = d.descriptors.map((child, i) => compactDescriptor(child, `${d.path}.descriptors[${i}]`));
  }
  let flags = 0;
  for (const name of FLAGS) if (d[name]) flags |= flagBit(name);
  if (flags !== 0) out.f = flags;
  if (d.metadata !== undefined) out.m = d.metadata;
  return out;
}

function fullDescriptor(c: CompactDescriptor, expectedPath: string): RawDescriptor {
  const path = c.p ?? expectedPath;
  const flags = c.f ?? 0;
  return {
    path,
    key: c.k,
    value: c.v ?? "",
    rateLimit: c.r === undefined ? undefined : fullLimit(c.r, `${path}.rate_limit`),
    rateLimits: c.rs?.map((rl, i) => fullLimit(rl, `${path}.rate_limits[${i}]`)),
    rateLimitsPath: c.rp ?? `${path}.rate_limits`,
    descriptors: (c.d ?? []).map((child, i) => fullDescriptor(child, `${path}.descriptors[${i}]`)),
    shadowMode: hasFlag(flags, "shadowMode"),
    quotaMode: hasFlag(flags, "quotaMode"),
    detailedMetric: hasFlag(flags, "detailedMetric"),
    valueToMetric: hasFlag(flags, "valueToMetric"),
    shareThreshold: hasFlag(flags, "shareThreshold"),
    metadata: c.m,
  };
}

function compactLimit(rl: RawRateLimit, expectedPath: string): CompactLimit {
  const out: CompactLimit = {};
  if (rl.path !== expectedPath) out.p = rl.path;
  if (rl.unit !== "") out.u = rl.unit;
  if (rl.requestsPerUnit !== 0) out.n = rl.requestsPerUnit;
  if (rl.unlimited) out.x = 1;
  if (rl.name !== "") out.nm = rl.name;
  if (rl.replaces.length > 0) {
    out.rr = rl.replaces.map((r, i) => (r.path === `${rl.path}.replaces[${i}].name` ? [r.name] : [r.name, r.path]));
  }
  if (rl.extensions.size > 0) {
    out.e = [...rl.extensions].map(([key, ext]) =>
      ext.path === `${rl.path}.${key}` ? [key, ext.value] : [key, ext.value, ext.path],
    );
  }
  return out;
}

function fullLimit(c: CompactLimit, expectedPath: string): RawRateLimit {
  const path = c.p ?? expectedPath;
  return {
    path,
    unit: c.u ?? "",
    requestsPerUnit: c.n ?? 0,
    unlimited: c.x === 1,
    name: c.nm ?? "",
    replaces: (c.rr ?? []).map(
      ([name, replacePath], i): RawReplace => ({ path: replacePath ?? `${path}.replaces[${i}].name`, name }),
    ),
    extensions: new Map(
      (c.e ?? []).map(([key, value, extPath]): [string, RawExtension] => [
        key,
        { value, path: extPath ?? `${path}.${key}` },
      ]),
    ),
  };
}

/** Whether JSON round-trips the item: no bigint, no non-finite number, no undefined where JSON would write null. */
function jsonExact(item: RawDescriptor): boolean {
  const limitExact = (rl: RawRateLimit): boolean => {
    for (const ext of rl.extensions.values()) if (!plainExact(ext.value)) return false;
    return true;
  };
  if (item.rateLimit !== undefined && !limitExact(item.rateLimit)) return false;
  if (item.rateLimits !== undefined && !item.rateLimits.every(limitExact)) return false;
  if (item.metadata !== undefined && !plainExact(item.metadata)) return false;
  return item.descriptors.every(jsonExact);
}

function plainExact(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object":
      if (value === null) return true;
      if (Array.isArray(value)) return value.every((v) => v !== undefined && plainExact(v));
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      return Object.values(value).every((v) => v !== undefined && plainExact(v));
    default:
      return false;
  }
}
