/**
 * Compiles parsed rule files in full (every check, every error as compileParsed gives it) and packs them
 * (packed-format.ts). Runs in the parse worker, one file at a time (packRuleFiles), and within a file one top-level
 * item at a time where its layout allows: each item is read, checked against those before it and written into the
 * packed arrays (packed-builder.ts), and then its parse and compile are dropped. So the worker holds no more than one
 * item's objects at a time. Built a file at a time, those objects outlived the young collections of their building,
 * and copying them was most of the work of V8's helper threads, which take the serving thread's core at normal
 * priority (issue 12). The main thread gets the packed items and compiles each when a call first needs it.
 */
import { ConfigError } from "../domain/errors.js";
import { type CompileOptions, createFileCompiler, createVersion } from "./compile.js";
import { compositeKey } from "./match.js";
import { DomainBuilder } from "./packed-builder.js";
import type { PackedRules } from "./packed-format.js";
import { encodeItem } from "./packed-item.js";
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
   * Checks `parsed` (the parse of `file`) after the files added before it and packs its items. Throws the
   * ConfigError compileParsed would give; the packer is then unusable.
   */
  add(file: RuleFile, parsed: RawRuleFile): void;
  /**
   * add() one top-level item at a time: starts `file`, whose domain is `domain`. Throws add()'s errors as they come;
   * the file is then given up with abandon(), or the packer is unusable.
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
  /** Takes back every item given, leaving the packer as it was before begin(). */
  abandon(): void;
}

export function createPacker(opts: CompileOptions): Packer {
  const compiler = createFileCompiler(opts);
  const version = createVersion(opts.mergeDomainConfig);
  const domains = new Map<string, DomainBuilder>();
  const begin = (file: RuleFile, domain: string): PackItems => {
    const checks = compiler.begin(file.name, domain);
    const target = domains.get(domain) ?? new DomainBuilder(domain);
    domains.set(domain, target); // a new domain goes last; an existing one keeps its place
    const mark = target.mark();
    const index = target.files.length;
    return {
      item(raw) {
        checks.item(raw); // the checks; the node is dropped
        const pattern = raw.value !== "" && isWildcard(raw.value);
        target.add(compositeKey(raw.key, raw.value), raw.key.length, encodeItem(raw), index, pattern);
      },
      commit() {
        checks.commit();
        version.add(file);
        target.files.push(file.name);
      },
      abandon() {
        target.rollback(mark);
        if (target.files.length === 0) domains.delete(domain);
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
      return { version: version.digest(), domains: [...domains.values()].map((d) => d.finish()) };
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
  let items: PackItems | undefined;
  const readWhole = (): undefined => {
    items?.abandon();
    warnings.parse.length = marks[0];
    warnings.compile.length = marks[1];
    return undefined;
  };
  try {
    const streamed = streamRuleFile(file, (w) => warnings.parse.push(w));
    if (streamed === undefined) return readWhole();
    items = packer.begin(file, streamed.domain);
    let rules = 0;
    for (const raw of streamed.items) {
      if (raw === undefined) return readWhole();
      rules += 1 + countRules(raw.descriptors);
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
