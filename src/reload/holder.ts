/**
 * The rule-set holder: what every rule source (the rule files, the xDS stream) feeds, and what the engine, health
 * and the debug port read. It owns the last-good logic, the reference's load counters and readiness; each source
 * compiles its own rules however it likes and reports the outcome:
 *
 * - A source publishes its whole rule set each time (a directory rescan, an xDS state-of-the-world response),
 *   compiled on its own (MERGE_DOMAIN_CONFIG applies inside a source), with where each domain came from. It is merged
 *   by domain with the other sources' current sets. A domain that two sources define is a load error of the
 *   publishing source, never a silent override: the previous rules keep serving and the error names the domain and
 *   both origins.
 * - A good load is counted (`config_load_success`) and swapped in at once; a failed one (bad rules, unreadable
 *   directory, undecodable resource, conflict) is reported with reject(), counted (`config_load_error`) and the last
 *   good rules keep serving.
 * - `current()` stays undefined until every registered source has had one good load, so a service fed by files
 *   and xDS never answers from half its rules (it answers UNAVAILABLE instead of allowing the missing domains).
 */
import { ConfigError } from "../domain/errors.js";
import type { RuleSource } from "../domain/ports.js";
import type { RuleSet } from "../domain/types.js";
import { parseRuleFile, type RuleFile } from "../rules/schema.js";
import { mergeRuleSets } from "./merged-rule-set.js";

/**
 * The name of the file (or resource) that defines `domain` in a source's rule set, for conflict errors. Only called on
 * that error path, so it may be slow.
 */
export type DomainOrigin = (domain: string) => string;

/** What a source gets to publish into the holder. */
export interface RuleFeed {
  /**
   * Swaps in `own`, this source's complete new rule set (`origin` names where its domains came from in conflict
   * errors), merged with the other sources, and counts the load. Throws a ConfigError, without counting or changing
   * anything, when a domain of `own` is already served by another source: report it with reject().
   */
  publish(own: RuleSet, origin: DomainOrigin): Published;
  /** Counts a failed load of this source; the last good rules keep serving. */
  reject(err: Error): void;
}

export interface Published {
  /** The rule set the service now answers from (this source merged with the others), if every source is ready. */
  readonly current: RuleSet | undefined;
  /** This source's own new rule set. */
  readonly own: RuleSet;
  /** This source's previous version, undefined on its first good load. */
  readonly previousVersion: string | undefined;
}

export interface RuleHolder extends RuleSource {
  /** Adds a source; its name ("file", "xds") appears in conflict errors. Register every source before start. */
  register(source: string): RuleFeed;
  /** True once every registered source has had a good load (`current()` is then defined). */
  ready(): boolean;
  /** Reference counters `config_load_success` / `config_load_error`, over every source. */
  readonly stats: { readonly loadSuccess: number; readonly loadError: number };
  /** The error of the newest failed load of a source that has not loaded well since; undefined otherwise. */
  readonly lastError: Error | undefined;
}

interface SourceState {
  readonly name: string;
  ruleSet: RuleSet | undefined;
  origin: DomainOrigin;
  error: { readonly err: Error; readonly seq: number } | undefined;
}

/** Creates an empty holder: `current()` is undefined until its sources load. */
export function createRuleHolder(): RuleHolder {
  const sources: SourceState[] = [];
  const stats = { loadSuccess: 0, loadError: 0 };
  let current: RuleSet | undefined;
  let seq = 0;

  function publish(state: SourceState, own: RuleSet, origin: DomainOrigin): Published {
    checkConflicts(state, own, origin, sources);
    const previousVersion = state.ruleSet?.version;
    state.ruleSet = own;
    state.origin = origin;
    state.error = undefined;
    stats.loadSuccess++;
    const parts = sources.map((s) => s.ruleSet);
    current = parts.every((p) => p !== undefined) ? mergeRuleSets(parts as RuleSet[]) : undefined;
    return { current, own, previousVersion };
  }

  return {
    current: () => current,
    ready: () => current !== undefined,
    get stats() {
      return { ...stats };
    },
    get lastError() {
      let newest: SourceState["error"];
      for (const s of sources) if (s.error && (newest === undefined || s.error.seq > newest.seq)) newest = s.error;
      return newest?.err;
    },
    register(name) {
      if (sources.some((s) => s.name === name)) throw new Error(`rule source ${name} registered twice`);
      const state: SourceState = { name, ruleSet: undefined, origin: () => "?", error: undefined };
      sources.push(state);
      current = undefined;
      return {
        publish: (own, origin) => publish(state, own, origin),
        reject(err) {
          stats.loadError++;
          state.error = { err, seq: ++seq };
        },
      };
    },
  };
}

/** Throws a ConfigError when a domain of `own` is already served by another source. */
function checkConflicts(state: SourceState, own: RuleSet, origin: DomainOrigin, sources: readonly SourceState[]): void {
  for (const other of sources) {
    if (other === state || other.ruleSet === undefined) continue;
    const domain = own.domains.find((d) => other.ruleSet?.hasDomain(d));
    if (domain === undefined) continue;
    const theirs = other.origin(domain);
    throw new ConfigError(
      origin(domain),
      "domain",
      `domain '${domain}' is also defined by the ${other.name} source (${theirs}); a domain must come from one ` +
        "source only",
    );
  }
}

/** The origin of domains compiled from `files`: parses them again, which is fine on the error path it serves. */
export function originIn(files: readonly RuleFile[]): DomainOrigin {
  return (domain) => fileOf(files, domain);
}

function fileOf(files: readonly RuleFile[], domain: string): string {
  for (const f of files) {
    try {
      if (parseRuleFile(f).domain === domain) return f.name;
    } catch {
      // compiled fine moments ago; cannot happen
    }
  }
  return "?";
}
