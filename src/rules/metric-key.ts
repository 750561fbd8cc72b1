/**
 * Per-request stats keys of configured rules, byte-identical to envoyproxy/ratelimit's `GetLimit` (config_impl.go).
 * A rule's `fullKey` is its static key (`domain.k1_v1.k2`, a wildcard level written as its pattern, e.g.
 * `domain.path_/api/*`). Two opt-ins put request values into the key:
 * - `value_to_metric: true` on a level writes that level as `key_<request value>`, or the bare `key` when the request
 *   value is empty, except on a `share_threshold` wildcard level, which keeps its pattern (`route_api/*`): sharing one
 *   counter means sharing one stat.
 * - `detailed_metric: true` on the matched rule writes every level as `key_<request value>` (also when the rule has
 *   nested descriptors), `key_` for an empty value; when a level shares a threshold, that level keeps its pattern and
 *   the others write the bare key for an empty value (the reference builds that key separately).
 * Everything else stays static, so label cardinality grows only where a rule asks for it.
 */
import type { Entry, LimitRule } from "../domain/types.js";

/**
 * Per level: the static key part, or null for a part built from the request entry. Attached to compiled rules whose
 * stats key depends on the request; absent otherwise (and on request-override rules built by the engine).
 */
export interface MetricTemplate {
  readonly domain: string;
  readonly parts: readonly (string | null)[];
  /** A null part with an empty request value is written `key` (true) or `key_` (false: plain detailed_metric). */
  readonly bareEmptyValue: boolean;
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
    const part = template.parts[i];
    if (part !== null && part !== undefined) {
      key += `.${part}`;
      continue;
    }
    const entry = entries[i] as Entry;
    key += entry.value === "" && template.bareEmptyValue ? `.${entry.key}` : `.${entry.key}_${entry.value}`;
  }
  return key;
}

/** One level of a rule's path, as compile.ts knows it. */
export interface MetricLevel {
  /** `key_value`, `key` or `key_pattern`: the level's part of `fullKey`. */
  readonly composite: string;
  readonly valueToMetric: boolean;
  /** A `share_threshold` wildcard level: its stat keeps the pattern. */
  readonly shared: boolean;
}

/** The template of a rule at the end of `levels`, or undefined when its stats key is always `fullKey`. */
export function metricTemplateOf(
  domain: string,
  levels: readonly MetricLevel[],
  detailedMetric: boolean,
): MetricTemplate | undefined {
  if (detailedMetric) {
    const anyShared = levels.some((l) => l.shared);
    const parts = levels.map((l) => (l.shared ? l.composite : null));
    return Object.freeze({ domain, parts: Object.freeze(parts), bareEmptyValue: anyShared });
  }
  const parts = levels.map((l) => (l.valueToMetric && !l.shared ? null : l.composite));
  if (!parts.includes(null)) return undefined;
  return Object.freeze({ domain, parts: Object.freeze(parts), bareEmptyValue: true });
}
