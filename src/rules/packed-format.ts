/**
 * The packed form of a compiled rule set: what the parse worker (reload/parse-worker-handler.ts) hands the main thread
 * instead of the rules themselves (issue 12). Every part is a typed array, so the whole set crosses threads by
 * transfer, without a copy, and lives outside the JavaScript heap: a reload of 50,000 rules costs the event loop
 * no parsing, no compiling and no garbage collection of tens of MB of new objects, and the steady state no marking
 * of them. Each top-level item is compiled on the main thread only when a call first needs it (packed-rule-set.ts).
 *
 * Per domain, each top-level descriptor item (with everything nested under it) is one entry, in file order:
 * - `chars` holds each entry's composite key (`key_value`, or `key` when value-less) as UTF-16 code units;
 * - `items` holds each entry's parsed item (schema.ts RawDescriptor), encoded as packed-item.ts says;
 * - `table` is an open-addressing hash table of the composites (FNV-1a over the code units, linear probing; 0 marks
 *   an empty slot, otherwise entry + 1) with at least twice as many slots as entries;
 * - `patterns` lists the entries whose value is a wildcard pattern, in file order.
 */

/** Int32s per entry in PackedDomain.meta. */
export const META_FIELDS = 7;
/** Offsets within an entry's meta. */
export const META = Object.freeze({
  /** Start of the composite in `chars`. */
  compositeStart: 0,
  /** Length of the composite; the key is its first `keyLength` code units. */
  compositeLength: 1,
  keyLength: 2,
  /** Where the serialized item is in `items`. */
  itemStart: 3,
  itemLength: 4,
  /** Index into PackedDomain.files. */
  file: 5,
  /** How the item is stored (packed-item.ts). */
  encoding: 6,
});

export interface PackedDomain {
  readonly name: string;
  /** Files the entries come from (several with MERGE_DOMAIN_CONFIG). */
  readonly files: readonly string[];
  readonly entries: number;
  readonly meta: Int32Array;
  readonly chars: Uint16Array;
  readonly items: Uint8Array;
  readonly table: Int32Array;
  readonly patterns: Int32Array;
}

export interface PackedRules {
  readonly version: string;
  /** In load order (the order of each domain's first file). */
  readonly domains: readonly PackedDomain[];
}

/** The buffers to transfer along with `packed` in a postMessage. */
export function transferList(packed: PackedRules): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const d of packed.domains) {
    for (const a of [d.meta, d.chars, d.items, d.table, d.patterns]) out.push(a.buffer as ArrayBuffer);
  }
  return out;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
/** `_`, between a composite's key and value. */
export const UNDERSCORE = 0x5f;

/** Hash of `text`, alone. */
export function hashOf(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** Hash of `key + "_" + value`, without building that string. */
export function hashOfPair(key: string, value: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  h = Math.imul(h ^ UNDERSCORE, FNV_PRIME);
  for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** Table slots for `entries`: a power of two, at least twice as many. */
export function tableSize(entries: number): number {
  let size = 8;
  while (size < entries * 2) size *= 2;
  return size;
}
