/**
 * Compiles parsed rule files in full (every check, every error as compileParsed gives it) and packs them
 * (packed-format.ts). Runs in the parse worker, one file at a time (packRuleFiles): each file is checked against those
 * before it and its top-level items are encoded, and then its parse and compile are dropped. So the worker never holds
 * more than one file's objects, whose garbage collection was a third of a large load's cost (issue 12). The main
 * thread gets the packed items and compiles each when a call first needs it.
 */
import { ConfigError } from "../domain/errors.js";
import { type CompileOptions, createFileCompiler, createVersion } from "./compile.js";
import { compositeKey } from "./match.js";
import { hashOf, META, META_FIELDS, type PackedDomain, type PackedRules, tableSize } from "./packed-format.js";
import { type EncodedItem, encodedLength, encodeItem, writeEncoded } from "./packed-item.js";
import { type ConfigWarning, parseRuleFile, type RawDescriptor, type RawRuleFile, type RuleFile } from "./schema.js";
import { isWildcard } from "./wildcard.js";

export interface Packer {
  /**
   * Checks `parsed` (the parse of `file`) after the files added before it and keeps its items encoded. Throws the
   * ConfigError compileParsed would give; the packer is then unusable.
   */
  add(file: RuleFile, parsed: RawRuleFile): void;
  /** The packed rules of every file added, in load order. */
  finish(): PackedRules;
}

/** One domain's top-level items so far, in load order. */
interface DomainParts {
  readonly name: string;
  readonly files: string[];
  readonly composites: string[];
  readonly keyLengths: number[];
  readonly encoded: EncodedItem[];
  readonly fileIndex: number[];
  readonly patterns: number[];
}

export function createPacker(opts: CompileOptions): Packer {
  const compiler = createFileCompiler(opts);
  const version = createVersion(opts.mergeDomainConfig);
  const domains = new Map<string, DomainParts>();
  return {
    add(file, parsed) {
      version.add(file);
      compiler.add(parsed); // the checks; the nodes are dropped
      let parts = domains.get(parsed.domain);
      if (parts === undefined) {
        parts = {
          name: parsed.domain,
          files: [],
          composites: [],
          keyLengths: [],
          encoded: [],
          fileIndex: [],
          patterns: [],
        };
        domains.set(parsed.domain, parts);
      }
      const index = parts.files.push(parsed.name) - 1;
      for (const item of parsed.descriptors) {
        if (item.value !== "" && isWildcard(item.value)) parts.patterns.push(parts.composites.length);
        parts.composites.push(compositeKey(item.key, item.value));
        parts.keyLengths.push(item.key.length);
        parts.encoded.push(encodeItem(item));
        parts.fileIndex.push(index);
      }
    },
    finish() {
      return { version: version.digest(), domains: [...domains.values()].map(packDomain) };
    },
  };
}

/**
 * Parses, checks and packs `files` one at a time, as the parse worker does: each file's parse and compile are dropped
 * once its items are packed. Throws what compileRuleSet would throw for the same files: as there, a syntax error in any
 * file wins over a compile error, so after the first compile error the remaining files are only parsed. Also throws
 * when the files together hold more than `maxRules` rules (descriptor items, nested ones included), naming the file
 * that goes over. Warnings come in compileRuleSet's order: every file's parse, then the compile's.
 */
export function packRuleFiles(
  files: Iterable<RuleFile>,
  opts: CompileOptions & { readonly maxRules: number },
): { packed: PackedRules; warnings: ConfigWarning[] } {
  const parseWarnings: ConfigWarning[] = [];
  const compileWarnings: ConfigWarning[] = [];
  const packer = createPacker({ mergeDomainConfig: opts.mergeDomainConfig, onWarning: (w) => compileWarnings.push(w) });
  let rules = 0;
  const count = (ds: readonly RawDescriptor[]): void => {
    for (const d of ds) {
      rules++;
      count(d.descriptors);
    }
  };
  let compileError: ConfigError | undefined;
  for (const file of files) {
    const raw = parseRuleFile(file, (w) => parseWarnings.push(w));
    count(raw.descriptors);
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
  return { packed: packer.finish(), warnings: [...parseWarnings, ...compileWarnings] };
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
