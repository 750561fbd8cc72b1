/**
 * Rule files → one immutable RuleSet, with every check envoyproxy/ratelimit's loader makes (`loadConfig`,
 * `loadDescriptors`): empty or duplicate domain (several files may share a domain only with MERGE_DOMAIN_CONFIG),
 * empty key, duplicate composite key, unit, unlimited with a unit, empty or self `replaces`, `share_threshold`
 * without a wildcard value. The first problem
 * throws a ConfigError naming the file and the YAML path; one bad file rejects the whole set.
 */
import { ConfigError } from "../domain/errors.js";
import { type Entry, type Limit, type LimitRule, type RuleSet, UNITS, type Unit } from "../domain/types.js";
import { dumpRules } from "./dump.js";
import { buildLimit } from "./limit-keys.js";
import { buildLevel, compositeKey, findInTree, type Level, type RuleNode } from "./match.js";
import { type CompiledRule, type MetricLevel, metricTemplateOf } from "./metric-key.js";
import {
  parseRuleFile,
  type RawDescriptor,
  type RawRateLimit,
  type RawRuleFile,
  type RuleFile,
  type WarningSink,
} from "./schema.js";
import { compileWildcard, isWildcard } from "./wildcard.js";

export interface CompileOptions {
  /** MERGE_DOMAIN_CONFIG: descriptors of one domain may come from several files. */
  readonly mergeDomainConfig: boolean;
  /** Receives accepted-but-suspicious findings (e.g. a key with no effect where it is written). */
  readonly onWarning?: WarningSink;
}

/** Unit names as the reference accepts them: any case (`strings.ToUpper`), `UNKNOWN` excluded. */
const UNIT_BY_NAME: ReadonlyMap<string, Unit> = new Map(UNITS.map((u) => [u.toUpperCase(), u] as const));
const UNIT_LIST = UNITS.join("|");
const NO_OVERRIDES: readonly (string | undefined)[] = Object.freeze([]);

/** Where a descriptor item sits: what its rule inherits from the items above it. */
interface Scope {
  readonly file: string;
  readonly domain: string;
  /** `domain.` or `domain.k1_v1.`: the reference's stats key of the parent, plus a dot. */
  readonly parentKey: string;
  /** Per level above: the wildcard pattern written into cache keys (`share_threshold`), or undefined. */
  readonly overrides: readonly (string | undefined)[];
  /** Per level above: what its stats key needs (metric-key.ts). */
  readonly metricLevels: readonly MetricLevel[];
  readonly valueToMetric: boolean;
  readonly warn: WarningSink | undefined;
}

/** Compiles rule files (in the given order) into a RuleSet. Throws ConfigError on the first invalid input. */
export function compileRuleSet(files: readonly RuleFile[], opts: CompileOptions): RuleSet {
  // Like the reference, every file is parsed before any is loaded, so a syntax error anywhere wins.
  return compileParsed(
    files,
    files.map((file) => parseRuleFile(file, opts.onWarning)),
    opts,
  );
}

/** The second half of compileRuleSet, for files parsed elsewhere. */
export function compileParsed(
  files: readonly RuleFile[],
  parsed: readonly RawRuleFile[],
  opts: CompileOptions,
): RuleSet {
  const compiler = createFileCompiler(opts);
  const tops = new Map<string, RuleNode[]>();
  for (const file of parsed) {
    const nodes = compiler.add(file);
    const top = tops.get(file.domain);
    if (top === undefined) tops.set(file.domain, nodes);
    else for (const node of nodes) top.push(node);
  }
  const roots = new Map<string, Level>();
  for (const [domain, nodes] of tops) roots.set(domain, buildLevel(nodes));
  const version = createVersion(opts.mergeDomainConfig);
  for (const file of files) version.add(file);
  return createRuleSet(roots, version.digest());
}

/**
 * Compiles parsed files one at a time, in load order, with the checks across files (duplicate domains, duplicate
 * keys of a merged domain): compileParsed's loop, which the parse worker runs file by file, and item by item where it
 * can (begin), so that it holds no more than one file's parse, or one item's (rules/pack.ts).
 */
export interface FileCompiler {
  /** The top-level nodes of `file`; throws the ConfigError compileParsed would give for it after those before it. */
  add(file: RawRuleFile): RuleNode[];
  /**
   * Starts file `name` of `domain`, whose top-level items are then given one at a time: add() in steps, throwing the
   * same errors. Nothing is recorded until commit(), so a file given up halfway leaves the compiler as it was.
   */
  begin(name: string, domain: string): FileItems;
}

export interface FileItems {
  /** The next top-level item's node. */
  item(raw: RawDescriptor): RuleNode;
  /** Records the file: its domain and the composite keys its items used. */
  commit(): void;
}

export function createFileCompiler(opts: CompileOptions): FileCompiler {
  /** Per domain: the first file that defined it and the composite keys its top level uses so far. */
  const tops = new Map<string, { composites: Set<string>; file: string }>();
  const begin = (name: string, domain: string): FileItems => {
    if (domain === "") throw new ConfigError(name, "domain", "config file cannot have empty domain");
    const top = tops.get(domain);
    if (top !== undefined && !opts.mergeDomainConfig) {
      throw new ConfigError(
        name,
        "domain",
        `duplicate domain '${domain}' in config file (also in ${top.file}; set MERGE_DOMAIN_CONFIG=true to merge)`,
      );
    }
    const scope = rootScope({ name, domain }, opts.onWarning);
    const added = new Set<string>();
    // The keys of the domain's earlier files count, and this file's own; only its own are added until commit().
    const composites: CompositeKeys = {
      has: (composite) => added.has(composite) || top?.composites.has(composite) === true,
      add: (composite) => added.add(composite),
    };
    return {
      item: (raw) => buildNodes(scope, [raw], composites)[0] as RuleNode,
      commit() {
        if (top === undefined) tops.set(domain, { composites: added, file: name });
        else for (const composite of added) top.composites.add(composite);
      },
    };
  };
  return {
    add(file) {
      const items = begin(file.name, file.domain);
      const nodes = file.descriptors.map((raw) => items.item(raw));
      items.commit();
      return nodes;
    },
    begin,
  };
}

/**
 * Compiles one top-level descriptor item of `domain` (from file `file`) on its own, as the whole compile would: what a
 * packed rule set (packed-rule-set.ts) does when a call first needs the item. The item must already have passed a
 * whole compile (the checks across items, like duplicate keys, need its neighbours); warnings are not repeated.
 */
export function compileTopItem(file: string, domain: string, item: RawDescriptor): RuleNode {
  return buildNodes(rootScope({ name: file, domain }, undefined), [item], new Set())[0] as RuleNode;
}

function rootScope(file: { readonly name: string; readonly domain: string }, warn: WarningSink | undefined): Scope {
  const base = { file: file.name, domain: file.domain, parentKey: `${file.domain}.`, valueToMetric: false, warn };
  return { ...base, overrides: [], metricLevels: [] };
}

/** The composite keys already used at one level of descriptors. */
type CompositeKeys = Pick<Set<string>, "has" | "add">;

/** Builds one `descriptors:` list; `composites` holds the keys already used at this level (merge across files). */
function buildNodes(scope: Scope, items: readonly RawDescriptor[], composites: CompositeKeys): RuleNode[] {
  const nodes: RuleNode[] = [];
  for (const item of items) {
    if (item.key === "") throw new ConfigError(scope.file, `${item.path}.key`, "descriptor has empty key");
    const composite = compositeKey(item.key, item.value);
    const fullKey = scope.parentKey + composite;
    if (composites.has(composite)) {
      throw new ConfigError(scope.file, item.path, `duplicate descriptor composite key '${fullKey}'`);
    }
    composites.add(composite);
    const wildcard = item.value !== "" && isWildcard(item.value);
    const inner = childScope(scope, item, composite, wildcard);
    if (item.rateLimit !== undefined && item.rateLimits !== undefined) {
      throw new ConfigError(scope.file, item.rateLimitsPath, "use either rate_limit or rate_limits, not both");
    }
    const rule =
      item.rateLimit === undefined && item.rateLimits === undefined ? undefined : buildRule(inner, item, fullKey);
    // As the reference (PR #1016), after the rate_limit checks: sharing needs a pattern to share.
    if (item.shareThreshold && !wildcard) {
      throw new ConfigError(
        scope.file,
        `${item.path}.share_threshold`,
        `share_threshold can only be used with wildcard values (containing '*'), but found key '${composite}'`,
      );
    }
    const children =
      item.descriptors.length === 0 ? undefined : buildLevel(buildNodes(inner, item.descriptors, new Set()));
    const pattern = wildcard ? compileWildcard(item.value) : undefined;
    nodes.push(Object.freeze({ key: item.key, value: item.value, composite, pattern, rule, children }));
  }
  return nodes;
}

function childScope(scope: Scope, item: RawDescriptor, composite: string, wildcard: boolean): Scope {
  return {
    ...scope,
    parentKey: `${scope.parentKey}${composite}.`,
    overrides: [...scope.overrides, wildcard && item.shareThreshold ? item.value : undefined],
    metricLevels: [
      ...scope.metricLevels,
      { composite, valueToMetric: item.valueToMetric, shared: wildcard && item.shareThreshold },
    ],
    valueToMetric: scope.valueToMetric || item.valueToMetric,
  };
}

/** The item's `rate_limit:` (or `rate_limits:`) as a LimitRule; `scope` already includes the item itself. */
function buildRule(scope: Scope, item: RawDescriptor, fullKey: string): LimitRule {
  const overrides = scope.overrides.some((o) => o !== undefined) ? Object.freeze([...scope.overrides]) : NO_OVERRIDES;
  const single = item.rateLimit;
  const limits = single !== undefined ? [limitOf(scope, single, false)] : limitList(scope, item);
  const rule: CompiledRule = {
    fullKey,
    limits: Object.freeze(limits),
    unlimited: single?.unlimited === true,
    shadowMode: item.shadowMode,
    quotaMode: item.quotaMode,
    detailedMetric: item.detailedMetric,
    valueToMetric: scope.valueToMetric,
    metadata: item.metadata,
    keyValueOverrides: overrides,
    metric: metricTemplateOf(scope.domain, scope.metricLevels, item.detailedMetric),
  };
  return Object.freeze(rule);
}

function limitOf(scope: Scope, rl: RawRateLimit, inList: boolean): Limit {
  const unit = checkRateLimit(scope, rl);
  const base = {
    requestsPerUnit: rl.requestsPerUnit,
    // Never used for unlimited rules (no window, no current_limit); dump() prints UNKNOWN for them.
    unit: unit ?? "second",
    name: rl.name === "" ? undefined : rl.name,
    replaces: Object.freeze(rl.replaces.map((r) => r.name)),
    path: rl.path,
  };
  return buildLimit(scope.file, base, rl.extensions, inList);
}

/**
 * `rate_limits:` checks: not empty, no `unlimited` entry (write `rate_limit: {unlimited: true}`), distinct keys
 * (algorithm, window and name), and budgets all or none (a budget charge always counts, which an all-or-nothing group
 * with an ordinary limit could not honour).
 */
function limitList(scope: Scope, item: RawDescriptor): Limit[] {
  const list = item.rateLimits ?? [];
  if (list.length === 0)
    throw new ConfigError(scope.file, item.rateLimitsPath, "rate_limits must list at least one limit");
  const limits: Limit[] = [];
  const tags = new Set<string>();
  for (const rl of list) {
    if (rl.unlimited) {
      throw new ConfigError(
        scope.file,
        `${rl.path}.unlimited`,
        "unlimited is not allowed in rate_limits; use rate_limit",
      );
    }
    const limit = limitOf(scope, rl, true);
    if (tags.has(limit.keyTag)) {
      throw new ConfigError(
        scope.file,
        rl.path,
        "two limits share algorithm, window and name; give one a distinct name",
      );
    }
    tags.add(limit.keyTag);
    if (limits.length > 0 && limit.budget !== (limits[0] as Limit).budget) {
      throw new ConfigError(
        scope.file,
        `${rl.path}.budget`,
        "budget must be set on every limit of rate_limits or none",
      );
    }
    limits.push(limit);
  }
  return limits;
}

/** The reference's checks of one `rate_limit:`, in its order; returns the unit (undefined when unlimited). */
function checkRateLimit(scope: Scope, rl: RawRateLimit): Unit | undefined {
  const unit = UNIT_BY_NAME.get(rl.unit.toUpperCase());
  if (rl.unlimited) {
    if (unit !== undefined) {
      throw new ConfigError(scope.file, `${rl.path}.unit`, "should not specify rate limit unit when unlimited");
    }
    // An unknown unit next to `unlimited: true` passes the reference's check; accept it, but say so.
    if (rl.unit !== "") {
      const detail = `'${rl.unit}' is ignored: the limit is unlimited`;
      scope.warn?.({ file: scope.file, path: `${rl.path}.unit`, detail });
    }
  } else if (unit === undefined) {
    const detail = rl.unit === "" ? `missing unit (one of ${UNIT_LIST})` : `"${rl.unit}" is not one of ${UNIT_LIST}`;
    throw new ConfigError(scope.file, `${rl.path}.unit`, detail);
  }
  for (const r of rl.replaces) {
    if (r.name === "") throw new ConfigError(scope.file, r.path, "should not have an empty replaces entry");
    if (r.name === rl.name) {
      throw new ConfigError(scope.file, r.path, "replaces should not contain name of same descriptor");
    }
  }
  return unit;
}

function createRuleSet(roots: ReadonlyMap<string, Level>, version: string): RuleSet {
  let dumped: string | undefined;
  return Object.freeze({
    version,
    domains: Object.freeze([...roots.keys()]),
    hasDomain: (domain: string) => roots.has(domain),
    findRule(domain: string, entries: readonly Entry[]): LimitRule | undefined {
      const top = roots.get(domain);
      return top === undefined ? undefined : findInTree(top, entries);
    },
    dump(): string {
      dumped ??= dumpRules(roots);
      return dumped;
    },
  });
}

/**
 * Content-derived version: FNV-1a over names and texts (two 32-bit lanes), so equal inputs give equal versions. Fed
 * file by file, in load order.
 */
export function createVersion(merge: boolean): { add(file: RuleFile): void; digest(): string } {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ (merge ? 1 : 0);
  const feed = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x00000193) + 0x9e3779b9;
    }
    a = Math.imul(a ^ 0xff, 0x01000193);
  };
  return {
    add(file) {
      feed(file.name);
      feed(file.text);
    },
    digest: () => (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0"),
  };
}
