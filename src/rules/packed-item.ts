/**
 * How one parsed top-level item (schema.ts RawDescriptor) is stored in packed rules (packed-format.ts): as JSON in
 * UTF-8 when JSON can hold it exactly, which is almost always and three to four times cheaper to write and read than
 * node:v8's serialization; otherwise (a bigint, an infinity or NaN in `metadata` or an extension value) in node:v8's
 * format. The only Maps in an item, the extension keys of each rate limit, travel in JSON as lists of entries.
 */
import { deserialize, serialize } from "node:v8";
import type { RawDescriptor, RawRateLimit } from "./schema.js";

/** The encodings an entry's meta records. */
export const ITEM_JSON = 0;
export const ITEM_V8 = 1;

type Encoded = { readonly encoding: typeof ITEM_JSON | typeof ITEM_V8; readonly bytes: Uint8Array };

export function encodeItem(item: RawDescriptor): Encoded {
  if (jsonExact(item)) return { encoding: ITEM_JSON, bytes: Buffer.from(JSON.stringify(item, mapsAsEntries)) };
  return { encoding: ITEM_V8, bytes: serialize(item) };
}

const decoder = new TextDecoder();

export function decodeItem(encoding: number, bytes: Uint8Array): RawDescriptor {
  if (encoding === ITEM_V8) return deserialize(bytes) as RawDescriptor;
  return withMaps(JSON.parse(decoder.decode(bytes)) as RawDescriptor);
}

function mapsAsEntries(_key: string, value: unknown): unknown {
  return value instanceof Map ? [...value] : value;
}

/** Turns the extension entries back into Maps, throughout the item. */
function withMaps(item: RawDescriptor): RawDescriptor {
  const limit = (rl: RawRateLimit): RawRateLimit => ({ ...rl, extensions: new Map(rl.extensions as never) });
  return {
    ...item,
    // JSON leaves out what was undefined, so these read back as undefined too.
    rateLimit: item.rateLimit === undefined ? undefined : limit(item.rateLimit),
    rateLimits: item.rateLimits?.map(limit),
    descriptors: item.descriptors.map(withMaps),
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
