/**
 * Compiles parsed rule files in full (every check, every error as compileParsed gives it) and packs them
 * (packed-format.ts). Runs in the parse worker, one file at a time (packRuleFiles), and within a file one top-level
 * item at a time where its layout allows: each item is read, checked against those before it and encoded, and then
 * its parse and compile are dropped. So the worker holds no more than one item's objects besides the encoded ones.
 * Built a file at a time, those objects outlived the young collections of their building, and copying them was most of
 * the work of V8's helper threads, which take the serving thread's core at normal priority (issue 12). The main
 * thread gets the packed items and compiles each when a call first needs it.
 */
import { ConfigError } from "../domain/errors.js";
import { type CompileOptions, createFileCompiler, createVersion } from "./compile.js";
import { compositeKey } from "./match.js";
import { hashOf, META, META_FIELDS, type PackedDomain, type PackedRules, tableSize } from "./packed-format.js";
import { type EncodedItem, encodedLength, encodeItem, writeEncoded } from "./packed-item.js";
import {
  type ConfigWarning,
  parseRuleFile,
  type RawDescriptor,
  type RawRuleFile,
  type RuleFile,
  streamRuleFile,
} from "./schema.js";
import { isWildcard } from "./wildcard.js";

export interface Packer {
  /**
   * Checks `parsed` (the parse of `file`) after the files added before it and keeps its items encoded. Throws the
   * ConfigError compileParsed would give; the packer is then unusable.
   */
  add(file: RuleFile, parsed: RawRuleFile): void;
  /**
   * add() one top-level item at a time: starts `file`, whose domain is `domain`. Throws add()'s errors as they come
   * (the packer is then unusable, unless nothing was committed). Nothing is recorded until commit().
   */
  begin(file: RuleFile, domain: string): PackItems;
  /** The packed rules of every file added, in load order. */
  finish(): PackedRules;
}

export interface PackItems {
  /** Checks and encodes the file's next top-level item. */
  item(raw: RawDescriptor): void;
  /** Records the file and its items. */
  commit(): void;
}

/** Top-level items in load order: one domain's so far, or one file's until it is committed. */
interface Items {
  readonly composites: string[];
  readonly keyLengths: number[];
  readonly encoded: EncodedItem[];
  /** Indexes (into these lists) of the items whose value is a wildcard pattern. */
  readonly patterns: number[];
}

/** One domain's top-level items so far, in load order. */
interface DomainParts extends Items {
  readonly name: string;
  readonly files: string[];
  readonly fileIndex: number[];
}

const noItems = (): Items => ({ composites: [], keyLengths: [], encoded: [], patterns: [] });

export function createPacker(opts: CompileOptions): Packer {
  const compiler = createFileCompiler(opts);
  const version = createVersion(opts.mergeDomainConfig);
  const domains = new Map<string, DomainParts>();
  const commit = (file: RuleFile, domain: string, items: Items): void => {
    version.add(file);
    let parts = domains.get(domain);
    if (parts === undefined) {
      parts = { name: domain, files: [], fileIndex: [], ...noItems() };
      domains.set(domain, parts);
    }
    const index = parts.files.push(file.name) - 1;
    const offset = parts.composites.length;
    for (const i of items.patterns) parts.patterns.push(offset + i);
    for (let i = 0; i < items.composites.length; i++) {
      parts.composites.push(items.composites[i] as string);
      parts.keyLengths.push(items.keyLengths[i] as number);
      parts.encoded.push(items.encoded[i] as EncodedItem);
      parts.fileIndex.push(index);
    }
  };
  const begin = (file: RuleFile, domain: string): PackItems => {
    const checks = compiler.begin(file.name, domain);
    const items = noItems();
    return {
      item(raw) {
        checks.item(raw); // the checks; the node is dropped
        if (raw.value !== "" && isWildcard(raw.value)) items.patterns.push(items.composites.length);
        items.composites.push(compositeKey(raw.key, raw.value));
        items.keyLengths.push(raw.key.length);
        items.encoded.push(encodeItem(raw));
      },
      commit() {
        checks.commit();
        commit(file, domain, items);
      },
    };
  };
  return {
    add(file, parsed) {
      const items = begin(file, parsed.domain);
      for (const raw of parsed.descriptors) items.item(raw);
      items.commit();
    },
    begin,
    finish() {
      return { version: version.digest(), domains: [...domains.values()].map(packDomain) };
    },
  };
}

/**
 * Parses, checks and packs `files` one at a time, as the parse worker does, and each file one top-level item at a time
 * where its layout allows (schema.ts streamRuleFile): only one item's parse and compile are alive at once. Throws what
 * compileRuleSet would throw for the same files: as there, a syntax error in any file wins over a compile error, so
 * after the first compile error the remaining files are only parsed. Also throws when the files together hold more
 * than `maxRules` rules (descriptor items, nested ones included), naming the file that goes over. Warnings come in
 * compileRuleSet's order: every file's parse, then the compile's. `wholeChars` is the length of the files read whole,
 * whose parse was held at once (what the parse worker's heap may have grown by).
 */
export function packRuleFiles(
  files: Iterable<RuleFile>,
  opts: CompileOptions & { readonly maxRules: number },
): { packed: PackedRules; warnings: ConfigWarning[]; wholeChars: number } {
  const warnings: Warnings = { parse: [], compile: [] };
  const packer = createPacker({
    mergeDomainConfig: opts.mergeDomainConfig,
    onWarning: (w) => warnings.compile.push(w),
  });
  let rules = 0;
  let wholeChars = 0;
  let compileError: ConfigError | undefined;
  for (const file of files) {
    if (compileError === undefined) {
      const streamed = packStreamed(packer, file, opts.maxRules - rules, warnings);
      if (streamed !== undefined) {
        rules += streamed;
        continue;
      }
    }
    const raw = parseRuleFile(file, (w) => warnings.parse.push(w));
    wholeChars += file.text.length;
    rules += countRules(raw.descriptors);
    if (rules > opts.maxRules) {
      throw new ConfigError(file.name, "", `rule files together hold more than ${opts.maxRules} rules`);
    }
    if (compileError !== undefined) continue;
    try {
      packer.add(file, raw);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      compileError = err;
    }
  }
  if (compileError !== undefined) throw compileError;
  return { packed: packer.finish(), warnings: [...warnings.parse, ...warnings.compile], wholeChars };
}

interface Warnings {
  readonly parse: ConfigWarning[];
  readonly compile: ConfigWarning[];
}

/**
 * Packs `file` one top-level item at a time and returns its rule count; or returns undefined, having recorded nothing
 * (its warnings taken back), when the file is to be read whole: its layout is not one streamRuleFile reads, or it
 * holds an error or more than `rulesLeft` rules. The whole read then reports exactly what compileRuleSet would (a
 * syntax error further on wins over an error found here).
 */
function packStreamed(packer: Packer, file: RuleFile, rulesLeft: number, warnings: Warnings): number | undefined {
  const marks = [warnings.parse.length, warnings.compile.length] as const;
  const readWhole = (): undefined => {
    warnings.parse.length = marks[0];
    warnings.compile.length = marks[1];
    return undefined;
  };
  try {
    const streamed = streamRuleFile(file, (w) => warnings.parse.push(w));
    if (streamed === undefined) return readWhole();
    const items = packer.begin(file, streamed.domain);
    let rules = 0;
    for (const raw of streamed.items) {
      if (raw === undefined) return readWhole();
      rules += countRules([raw]);
      if (rules > rulesLeft) return readWhole();
      items.item(raw);
    }
    items.commit();
    return rules;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return readWhole();
  }
}

/** Descriptor items, nested ones included. */
function countRules(descriptors: readonly RawDescriptor[]): number {
  let rules = 0;
  for (const d of descriptors) rules += 1 + countRules(d.descriptors);
  return rules;
}

/** Packs files parsed beforehand, all at once (tests and benches). */
export function packRules(
  files: readonly RuleFile[],
  parsed: readonly RawRuleFile[],
  opts: CompileOptions,
): PackedRules {
  const packer = createPacker(opts);
  files.forEach((file, i) => {
    packer.add(file, parsed[i] as RawRuleFile);
  });
  return packer.finish();
}

function packDomain(parts: DomainParts): PackedDomain {
  const { composites, encoded } = parts;
  const entries = composites.length;
  const meta = new Int32Array(entries * META_FIELDS);
  let charCount = 0;
  let byteCount = 0;
  for (let i = 0; i < entries; i++) {
    const composite = composites[i] as string;
    const item = encoded[i] as EncodedItem;
    const length = encodedLength(item);
    const at = i * META_FIELDS;
    meta[at + META.compositeStart] = charCount;
    meta[at + META.compositeLength] = composite.length;
    meta[at + META.keyLength] = parts.keyLengths[i] as number;
    meta[at + META.itemStart] = byteCount;
    meta[at + META.itemLength] = length;
    meta[at + META.file] = parts.fileIndex[i] as number;
    meta[at + META.encoding] = item.encoding;
    charCount += composite.length;
    byteCount += length;
  }
  const chars = new Uint16Array(charCount);
  const items = new Uint8Array(byteCount);
  const itemsView = Buffer.from(items.buffer, items.byteOffset, items.byteLength);
  const table = new Int32Array(tableSize(entries));
  const mask = table.length - 1;
  for (let i = 0; i < entries; i++) {
    const composite = composites[i] as string;
    const start = meta[i * META_FIELDS + META.compositeStart] as number;
    for (let c = 0; c < composite.length; c++) chars[start + c] = composite.charCodeAt(c);
    writeEncoded(encoded[i] as EncodedItem, itemsView, meta[i * META_FIELDS + META.itemStart] as number);
    // The compile has rejected duplicate composites, so each entry takes a slot of its own.
    let slot = hashOf(composite) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = i + 1;
  }
  return {
    name: parts.name,
    files: parts.files,
    entries,
    meta,
    chars,
    items,
    table,
    patterns: Int32Array.from(parts.patterns),
  };
}
