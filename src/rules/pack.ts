/**
 * Compiles parsed rule files in full (every check, every error as compileParsed gives it) and packs them
 * (packed-format.ts). Runs in the parse worker: the compiled rule set itself is only the proof that the files are
 * valid and is dropped; the main thread gets the packed items and compiles each when a call first needs it.
 */
import { type CompileOptions, compileParsed } from "./compile.js";
import { compositeKey } from "./match.js";
import { hashOf, META, META_FIELDS, type PackedDomain, type PackedRules, tableSize } from "./packed-format.js";
import { encodeItem } from "./packed-item.js";
import type { RawDescriptor, RawRuleFile, RuleFile } from "./schema.js";
import { isWildcard } from "./wildcard.js";

/** Throws the compile's ConfigError when the files are invalid. */
export function packRules(
  files: readonly RuleFile[],
  parsed: readonly RawRuleFile[],
  opts: CompileOptions,
): PackedRules {
  const { version } = compileParsed(files, parsed, opts);
  const byDomain = new Map<string, RawRuleFile[]>();
  for (const file of parsed) {
    const list = byDomain.get(file.domain);
    if (list === undefined) byDomain.set(file.domain, [file]);
    else list.push(file);
  }
  const domains: PackedDomain[] = [];
  for (const [name, list] of byDomain) domains.push(packDomain(name, list));
  return { version, domains };
}

function packDomain(name: string, files: readonly RawRuleFile[]): PackedDomain {
  const items: { item: RawDescriptor; file: number }[] = [];
  files.forEach((f, file) => {
    for (const item of f.descriptors) items.push({ item, file });
  });
  const entries = items.length;
  const meta = new Int32Array(entries * META_FIELDS);
  const encoded: Uint8Array[] = [];
  let charCount = 0;
  let byteCount = 0;
  const patterns: number[] = [];
  const composites = items.map(({ item }) => compositeKey(item.key, item.value));
  items.forEach(({ item, file }, i) => {
    const composite = composites[i] as string;
    const { encoding, bytes } = encodeItem(item);
    const at = i * META_FIELDS;
    meta[at + META.compositeStart] = charCount;
    meta[at + META.compositeLength] = composite.length;
    meta[at + META.keyLength] = item.key.length;
    meta[at + META.itemStart] = byteCount;
    meta[at + META.itemLength] = bytes.length;
    meta[at + META.file] = file;
    meta[at + META.encoding] = encoding;
    charCount += composite.length;
    byteCount += bytes.length;
    encoded.push(bytes);
    if (item.value !== "" && isWildcard(item.value)) patterns.push(i);
  });
  const chars = new Uint16Array(charCount);
  const bytes = new Uint8Array(byteCount);
  const table = new Int32Array(tableSize(entries));
  const mask = table.length - 1;
  composites.forEach((composite, i) => {
    const start = meta[i * META_FIELDS + META.compositeStart] as number;
    for (let c = 0; c < composite.length; c++) chars[start + c] = composite.charCodeAt(c);
    bytes.set(encoded[i] as Uint8Array, meta[i * META_FIELDS + META.itemStart] as number);
    // The compile has rejected duplicate composites, so each entry takes a slot of its own.
    let slot = hashOf(composite) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = i + 1;
  });
  return {
    name,
    files: files.map((f) => f.name),
    entries,
    meta,
    chars,
    items: bytes,
    table,
    patterns: Int32Array.from(patterns),
  };
}
