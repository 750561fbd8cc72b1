/**
 * A hand-built RuleSet for engine tests (the real compiler lives in src/rules). A pattern entry with `value`
 * undefined matches any value of its key; patterns must match the request's entries one for one.
 */
import type { Entry, LimitRule, RuleSet } from "../../../src/domain/types.js";

export { limitRule } from "../../helpers/limits.js";

export interface PatternEntry {
  readonly key: string;
  readonly value?: string;
}

export interface FixtureRule {
  readonly domain: string;
  readonly entries: readonly PatternEntry[];
  readonly rule: LimitRule;
}

export function fixtureRuleSet(rules: readonly FixtureRule[], extraDomains: readonly string[] = []): RuleSet {
  const domains = [...new Set([...rules.map((r) => r.domain), ...extraDomains])];
  return {
    version: "fixture",
    domains,
    hasDomain: (domain) => domains.includes(domain),
    findRule(domain: string, entries: readonly Entry[]): LimitRule | undefined {
      const hit = rules.find(
        (r) =>
          r.domain === domain &&
          r.entries.length === entries.length &&
          r.entries.every(
            (p, i) => p.key === entries[i]?.key && (p.value === undefined || p.value === entries[i]?.value),
          ),
      );
      return hit?.rule;
    },
    dump: () => "",
  };
}
