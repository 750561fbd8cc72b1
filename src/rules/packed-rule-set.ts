/**
 * A RuleSet over packed rules (packed-format.ts). A large domain's top level is looked up in the packed hash table,
 * and a top-level item is compiled (compile.ts compileTopItem) the first time a call reaches it, then kept; below the
 * top level the compiled tree is walked as usual (match.ts). Small domains (EAGER_LIMITS) are compiled at once.
 *
 * The top-level lookup is the reference's composite-key algorithm (match.ts lookupComposite): the exact composite
 * `key_value`, then the wildcard patterns in file order, then the value-less `key`; match.ts's key-then-value index
 * provably agrees with it, so the two forms of a rule set answer every request alike (packed-rule-set.test.ts).
 * The hash and the comparison read the request's strings in place, so a lookup allocates only when the level has
 * patterns and the exact key missed.
 */
import type { Entry, LimitRule, RuleSet } from "../domain/types.js";
import { compileTopItem } from "./compile.js";
import { dumpNode } from "./dump.js";
import { buildLevel, findInTree, type Level, patternMatches, type RuleNode } from "./match.js";
import {
  hashOf,
  hashOfPair,
  META,
  META_FIELDS,
  type PackedDomain,
  type PackedRules,
  UNDERSCORE,
} from "./packed-format.js";
import { decodeItem } from "./packed-item.js";
import { compileWildcard, type WildcardPattern } from "./wildcard.js";

interface PatternEntry {
  readonly entry: number;
  readonly key: string;
  readonly pattern: WildcardPattern;
}

/** One domain's top level, packed; items compiled on first use. */
class PackedLevel {
  private readonly nodes: (RuleNode | undefined)[] = [];
  private patterns: readonly PatternEntry[] | undefined;
  private readonly mask: number;

  constructor(private readonly packed: PackedDomain) {
    this.mask = packed.table.length - 1;
  }

  /** Compiled items so far (for tests). */
  compiledCount(): number {
    let n = 0;
    for (const node of this.nodes) if (node !== undefined) n++;
    return n;
  }

  /** The node one request entry selects at the top level, or undefined. */
  lookup(key: string, value: string): RuleNode | undefined {
    const exact = this.findPair(key, value);
    if (exact !== -1) return this.node(exact);
    if (this.packed.patterns.length > 0) {
      const finalKey = `${key}_${value}`;
      for (const p of this.patternList()) if (patternMatches(p.key, p.pattern, finalKey)) return this.node(p.entry);
    }
    const bare = this.findText(key);
    return bare === -1 ? undefined : this.node(bare);
  }

  /** Every item in file order, compiled: kept ones reused, others compiled and kept only if `keep`. */
  *all(keep: boolean): Generator<RuleNode> {
    for (let entry = 0; entry < this.packed.entries; entry++) {
      yield this.nodes[entry] ?? (keep ? this.node(entry) : this.compile(entry));
    }
  }

  private node(entry: number): RuleNode {
    let node = this.nodes[entry];
    if (node === undefined) {
      node = this.compile(entry);
      this.nodes[entry] = node;
    }
    return node;
  }

  private compile(entry: number): RuleNode {
    const { meta, items, files, name } = this.packed;
    const at = entry * META_FIELDS;
    const start = meta[at + META.itemStart] as number;
    const item = decodeItem(
      meta[at + META.encoding] as number,
      items.subarray(start, start + (meta[at + META.itemLength] as number)),
    );
    return compileTopItem(files[meta[at + META.file] as number] as string, name, item);
  }

  /** The wildcard entries' keys and patterns, in file order; read from the packed composites on first use. */
  private patternList(): readonly PatternEntry[] {
    if (this.patterns === undefined) {
      const { meta, chars } = this.packed;
      this.patterns = Array.from(this.packed.patterns, (entry) => {
        const at = entry * META_FIELDS;
        const start = meta[at + META.compositeStart] as number;
        const keyEnd = start + (meta[at + META.keyLength] as number);
        const end = start + (meta[at + META.compositeLength] as number);
        const pattern = compileWildcard(textOf(chars, keyEnd + 1, end));
        return { entry, key: textOf(chars, start, keyEnd), pattern };
      });
    }
    return this.patterns;
  }

  /** The entry whose composite is `key_value`, or -1. */
  private findPair(key: string, value: string): number {
    const { table, meta, chars } = this.packed;
    const length = key.length + 1 + value.length;
    for (let slot = hashOfPair(key, value) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = (table[slot] as number) - 1;
      if (found === -1) return -1;
      const at = found * META_FIELDS;
      if (meta[at + META.compositeLength] !== length) continue;
      const start = meta[at + META.compositeStart] as number;
      if (chars[start + key.length] !== UNDERSCORE) continue;
      if (same(chars, start, key) && same(chars, start + key.length + 1, value)) return found;
    }
  }

  /** The entry whose composite is `text`, or -1. */
  private findText(text: string): number {
    const { table, meta, chars } = this.packed;
    for (let slot = hashOf(text) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = (table[slot] as number) - 1;
      if (found === -1) return -1;
      const at = found * META_FIELDS;
      if (
        meta[at + META.compositeLength] === text.length &&
        same(chars, meta[at + META.compositeStart] as number, text)
      ) {
        return found;
      }
    }
  }
}

/** The string of code units `start` to `end` (in pieces: a spread of a long value would overflow the stack). */
function textOf(chars: Uint16Array, start: number, end: number): string {
  let out = "";
  for (let at = start; at < end; at += 4096) {
    out += String.fromCharCode(...chars.subarray(at, Math.min(end, at + 4096)));
  }
  return out;
}

function same(chars: Uint16Array, start: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (chars[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Which domains a packed rule set compiles at once instead of item by item (packed-rule-set.ts). */
export interface EagerLimits {
  /** A domain with at most this many top-level items is compiled when the set is made. */
  readonly domainItems: number;
  /** ... as long as the items so compiled stay within this many in all (a few milliseconds of the serving thread). */
  readonly totalItems: number;
}

/**
 * Small domains, the usual case, are compiled at once into the ordinary tree (match.ts), so their calls take exactly
 * the lookup of a compiled rule set; the packed table is for large domains, where compiling at once is what a
 * reload must not do on the serving thread.
 */
export const EAGER_LIMITS: EagerLimits = Object.freeze({ domainItems: 64, totalItems: 256 });

/** The packed rules' RuleSet. */
export function ruleSetFromPacked(
  packed: PackedRules,
  eager: EagerLimits = EAGER_LIMITS,
): RuleSet & { compiledItems(): number } {
  const packedLevels: PackedLevel[] = [];
  const tops = new Map<string, Level | PackedLevel>();
  let budget = eager.totalItems;
  for (const d of packed.domains) {
    const level = new PackedLevel(d);
    packedLevels.push(level);
    if (d.entries <= eager.domainItems && d.entries <= budget) {
      budget -= d.entries;
      tops.set(d.name, buildLevel([...level.all(true)]));
    } else {
      tops.set(d.name, level);
    }
  }
  let dumped: string | undefined;
  return Object.freeze({
    version: packed.version,
    domains: Object.freeze([...tops.keys()]),
    hasDomain: (domain: string) => tops.has(domain),
    findRule(domain: string, entries: readonly Entry[]): LimitRule | undefined {
      const top = tops.get(domain);
      if (top === undefined) return undefined;
      if (!(top instanceof PackedLevel)) return findInTree(top, entries);
      const first = entries[0];
      if (first === undefined) return undefined;
      const node = top.lookup(first.key, first.value);
      if (node === undefined) return undefined;
      if (entries.length === 1) return node.rule;
      return node.children === undefined ? undefined : findInTree(node.children, entries, 1);
    },
    dump(): string {
      if (dumped === undefined) {
        let out = "";
        for (const level of packedLevels) for (const node of level.all(false)) out += dumpNode(node);
        dumped = out;
      }
      return dumped;
    },
    compiledItems(): number {
      let n = 0;
      for (const level of packedLevels) n += level.compiledCount();
      return n;
    },
  });
}
