/**
 * Per-request stats keys of configured rules. A rule's `fullKey` is its static key (`domain.k1_v1.k2`, with a
 * wildcard level written as its pattern, e.g. `domain.path_/api/*`). Two opt-ins put request values into the key,
 * following envoyproxy/ratelimit (PRs #996 `value_to_metric` and #1017): a level with `value_to_metric: true` is
 * written `key_<request value>`, and `detailed_metric: true` on the rule's own item (when it has no nested
 * descriptors, as in the reference's walk) writes the last level the same way. Everything else stays static, so
 * label cardinality grows only where a rule asks for it.
 */
import type { Entry, LimitRule } from "../domain/types.js";

/**
 * Per level: the static key part, or null for `key_<request value>`. Attached to compiled rules whose stats key
 * depends on the request; absent otherwise (and on request-override rules built by the engine).
 */
export interface MetricTemplate {
  readonly domain: string;
  readonly parts: readonly (string | null)[];
}

/** A LimitRule compiled from a rule file; `metric` is set when its stats key depends on request values. */
export interface CompiledRule extends LimitRule {
  readonly metric: MetricTemplate | undefined;
}

/**
 * The stats key for one matched request: `rule.fullKey` unless the rule opted into request values. Allocates only
 * in the opt-in case.
 */
export function metricKeyFor(rule: LimitRule, entries: readonly Entry[]): string {
  const template = (rule as Partial<CompiledRule>).metric;
  if (template === undefined || template.parts.length !== entries.length) return rule.fullKey;
  let key = template.domain;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Entry;
    key += `.${template.parts[i] ?? `${entry.key}_${entry.value}`}`;
  }
  return key;
}
