/**
 * The descriptor tree and its lookup, following envoyproxy/ratelimit's `GetLimit` walk exactly: at each level try
 * the request's `key_value`, then the level's wildcard patterns in file order, then the value-less `key`; only the
 * node matched at the LAST request entry may supply the limit, so a request deeper or shallower than the rules
 * gets none.
 *
 * The reference indexes a level by the composite string `key + "_" + value`, which makes some distinct pairs
 * collide (rule `a: b_c` also matches request `a_b: c`). To stay exact without building that string on every
 * call, a level whose keys are "prefix-free" (no rule key equals another rule key plus `_` plus more) is also
 * indexed by key then value: for such a level and a request key that is one of its rule keys, the two lookups
 * provably agree. Every other case (rare: a level with keys like `a` and `a_b`, or a request key the level does
 * not have that could still collide) takes the composite path, which is the reference's algorithm verbatim.
 */
import type { Entry, LimitRule } from "../domain/types.js";
import type { WildcardPattern } from "./wildcard.js";

/** One compiled `descriptors:` item. */
export interface RuleNode {
  readonly key: string;
  /** "" for a value-less key (matches any value). */
  readonly value: string;
  /** The reference's map key: `key_value`, or `key` when value-less. */
  readonly composite: string;
  /** Set when `value` contains `*`. */
  readonly pattern: WildcardPattern | undefined;
  readonly rule: LimitRule | undefined;
  /** Undefined when the item has no nested `descriptors:`. */
  readonly children: Level | undefined;
}

/** The rule nodes of one key, for the allocation-free lookup. */
interface KeyGroup {
  readonly values: ReadonlyMap<string, RuleNode>;
  readonly patterns: readonly RuleNode[];
  readonly bare: RuleNode | undefined;
}

/** One `descriptors:` list, indexed. */
export interface Level {
  /** In file order (dump order). */
  readonly nodes: readonly RuleNode[];
  readonly composite: ReadonlyMap<string, RuleNode>;
  readonly patterns: readonly RuleNode[];
  /** Undefined when the level's keys are not prefix-free: every lookup then takes the composite path. */
  readonly groups: ReadonlyMap<string, KeyGroup> | undefined;
  /** Some rule key of this level contains `_`. */
  readonly underscoreKeys: boolean;
}

/** The reference's map key of a descriptor item: `key_value`, or `key` when value-less. */
export function compositeKey(key: string, value: string): string {
  return value === "" ? key : `${key}_${value}`;
}

/** Indexes the nodes of one level (their composites are already known to be distinct). */
export function buildLevel(nodes: readonly RuleNode[]): Level {
  const keys = new Set(nodes.map((n) => n.key));
  return Object.freeze({
    nodes: Object.freeze([...nodes]),
    composite: new Map(nodes.map((n) => [n.composite, n] as const)),
    patterns: Object.freeze(nodes.filter((n) => n.pattern !== undefined)),
    groups: prefixFree(keys) ? groupByKey(nodes) : undefined,
    underscoreKeys: [...keys].some((k) => k.includes("_")),
  });
}

/** True when no key is another key of the set followed by `_` and more. */
function prefixFree(keys: ReadonlySet<string>): boolean {
  for (const key of keys) {
    for (let i = key.indexOf("_"); i !== -1; i = key.indexOf("_", i + 1)) {
      if (keys.has(key.slice(0, i))) return false;
    }
  }
  return true;
}

function groupByKey(nodes: readonly RuleNode[]): ReadonlyMap<string, KeyGroup> {
  const groups = new Map<string, { values: Map<string, RuleNode>; patterns: RuleNode[]; bare: RuleNode | undefined }>();
  for (const node of nodes) {
    let group = groups.get(node.key);
    if (group === undefined) {
      group = { values: new Map(), patterns: [], bare: undefined };
      groups.set(node.key, group);
    }
    if (node.value === "") group.bare = node;
    else group.values.set(node.value, node);
    if (node.pattern !== undefined) group.patterns.push(node);
  }
  return groups;
}

/**
 * The rule for these request entries under a domain's top level, or undefined (the reference's GetLimit walk); with
 * `from`, `top` is the level that entry `from` is looked up in (the entries before it already matched above).
 */
export function findInTree(top: Level, entries: readonly Entry[], from = 0): LimitRule | undefined {
  const last = entries.length - 1;
  let level = top;
  for (let i = from; i <= last; i++) {
    const entry = entries[i] as Entry;
    const node = lookup(level, entry.key, entry.value);
    if (node === undefined) return undefined;
    // Only the node matched at the last entry may carry the limit ("request depth does not match config depth").
    if (i === last) return node.rule;
    if (node.children === undefined) return undefined;
    level = node.children;
  }
  return undefined;
}

/** The node one request entry selects in a level: exact value, else first matching wildcard, else value-less key. */
export function lookup(level: Level, key: string, value: string): RuleNode | undefined {
  const groups = level.groups;
  if (groups !== undefined) {
    const group = groups.get(key);
    if (group !== undefined) return group.values.get(value) ?? firstMatch(group.patterns, value, 0) ?? group.bare;
    // Without `_` on either side a request key the level lacks cannot collide with any composite.
    if (!level.underscoreKeys && !key.includes("_")) return undefined;
  }
  return lookupComposite(level, key, value);
}

/** The reference's algorithm verbatim, on composite strings. */
function lookupComposite(level: Level, key: string, value: string): RuleNode | undefined {
  const finalKey = `${key}_${value}`;
  const exact = level.composite.get(finalKey);
  if (exact !== undefined) return exact;
  for (const node of level.patterns) {
    if (node.pattern !== undefined && patternMatches(node.key, node.pattern, finalKey)) return node;
  }
  return level.composite.get(key);
}

/** The reference's wildcard test on a request's composite `key_value`: the rule's `key_`, then its pattern. */
export function patternMatches(ruleKey: string, pattern: WildcardPattern, finalKey: string): boolean {
  return (
    finalKey.startsWith(ruleKey) && finalKey[ruleKey.length] === "_" && pattern.matches(finalKey, ruleKey.length + 1)
  );
}

function firstMatch(patterns: readonly RuleNode[], value: string, offset: number): RuleNode | undefined {
  for (const node of patterns) if (node.pattern?.matches(value, offset)) return node;
  return undefined;
}
