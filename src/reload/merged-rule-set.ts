/**
 * One RuleSet over the rule sets of several sources (rule files and xDS), merged by domain. The holder checks
 * that no domain comes from two sources before building one, so every domain has exactly one owner and lookups
 * are delegated to it unchanged: the rule objects (and what the engine and stats key on them) are the owner's.
 */
import type { Entry, LimitRule, RuleSet } from "../domain/types.js";

/** Merges rule sets whose domains are disjoint (checked by the caller). One part is returned as is. */
export function mergeRuleSets(parts: readonly RuleSet[]): RuleSet {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const owners = new Map<string, RuleSet>();
  for (const part of parts) for (const domain of part.domains) owners.set(domain, part);
  let dumped: string | undefined;
  return Object.freeze({
    version: parts.map((p) => p.version).join("+"),
    domains: Object.freeze([...owners.keys()]),
    hasDomain: (domain: string) => owners.has(domain),
    findRule(domain: string, entries: readonly Entry[]): LimitRule | undefined {
      return owners.get(domain)?.findRule(domain, entries);
    },
    dump(): string {
      dumped ??= parts.map((p) => p.dump()).join("");
      return dumped;
    },
  });
}
