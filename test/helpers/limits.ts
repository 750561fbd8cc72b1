/** Limits and rules for tests, built the way rules/limit-keys.ts builds them. */
import type { Limit, LimitRule, Unit } from "../../src/domain/types.js";
import { buildLimit, type RawExtension } from "../../src/rules/limit-keys.js";

export interface TestLimitSpec {
  readonly requestsPerUnit?: number;
  readonly unit?: Unit;
  readonly name?: string;
  readonly replaces?: readonly string[];
  readonly algorithm?: string;
  readonly burst?: number;
  readonly unitMultiplier?: number;
  readonly windowAnchor?: string;
  readonly budget?: boolean;
  /** An entry of a `rate_limits:` list (tagged keys). */
  readonly inList?: boolean;
}

/** A compiled Limit; defaults: 10 per minute, fixed window. */
export function testLimit(spec: TestLimitSpec = {}): Limit {
  const raw = new Map<string, RawExtension>();
  const put = (key: string, value: unknown): void => {
    if (value !== undefined) raw.set(key, { value, path: `rate_limit.${key}` });
  };
  put("algorithm", spec.algorithm);
  put("burst", spec.burst);
  put("unit_multiplier", spec.unitMultiplier);
  put("window_anchor", spec.windowAnchor);
  put("budget", spec.budget);
  const base = {
    requestsPerUnit: spec.requestsPerUnit ?? 10,
    unit: spec.unit ?? "minute",
    name: spec.name,
    replaces: spec.replaces ?? [],
    path: "rate_limit",
  };
  return buildLimit("test.yaml", base, raw, spec.inList ?? false);
}

const SPEC_KEYS = [
  "requestsPerUnit",
  "unit",
  "name",
  "replaces",
  "algorithm",
  "burst",
  "unitMultiplier",
  "windowAnchor",
  "budget",
  "inList",
] as const;

/**
 * A LimitRule; its one limit takes the TestLimitSpec fields given at the top level (defaults as testLimit), unless
 * `limits` is given.
 */
export function limitRule(overrides: Partial<LimitRule> & TestLimitSpec = {}): LimitRule {
  const spec: Record<string, unknown> = {};
  const rest: Record<string, unknown> = { ...overrides };
  for (const k of SPEC_KEYS) {
    if (k in rest) {
      spec[k] = rest[k];
      delete rest[k];
    }
  }
  return {
    fullKey: "test.key",
    limits: [testLimit(spec as TestLimitSpec)],
    unlimited: false,
    shadowMode: false,
    quotaMode: false,
    detailedMetric: false,
    valueToMetric: false,
    metadata: undefined,
    keyValueOverrides: [],
    ...rest,
  };
}

/** A rule with its first limit's fields spread on top, for matching both in one toMatchObject. */
export function flatRule(rule: LimitRule | undefined): Record<string, unknown> | undefined {
  return rule === undefined ? undefined : { ...rule, ...rule.limits[0] };
}
