/**
 * First half of ShouldRateLimit, pure: request + RuleSet + now → the counter ops to apply (envoyproxy/ratelimit's
 * `constructLimitsToCheck` and `GenerateCacheKeys`), one op per limit of each matched descriptor. No I/O, no stats.
 */
import { windowStartSeconds } from "../algorithms/index.js";
import { InvalidRequestError, NoConfigError } from "../domain/errors.js";
import type { CounterOp, Descriptor, Limit, LimitRule, Millis, RateLimitRequest, RuleSet } from "../domain/types.js";
import { overrideLimit } from "../rules/limit-keys.js";
import { buildCacheKey, buildStateKey, overrideFullKey } from "./cache-key.js";

/** `Plan.slots` value: no rule applies (unknown domain, no match, or every limit replaced). */
export const SLOT_NONE = -1;
/** `Plan.slots` value: the matched rule is `unlimited` (never touches the store). */
export const SLOT_UNLIMITED = -2;

/** What the engine decided to ask the store, and what it needs to turn the answers into a Decision. */
export interface Plan {
  readonly request: RateLimitRequest;
  /** Time of the decision (ms since the epoch), the same for every op. */
  readonly nowMs: Millis;
  /** Unix seconds of the decision (the reference's `UnixNow()`). */
  readonly nowSeconds: number;
  /** False when the domain is not configured: every descriptor is answered OK (stat `domain_not_found`). */
  readonly domainKnown: boolean;
  /** Per descriptor: the rule that applies (undefined when none or replaced; kept for `unlimited`). */
  readonly rules: readonly (LimitRule | undefined)[];
  /**
   * Per descriptor: index into `ops` of the first op of its group (`ops[slot].group` ops in all), or SLOT_NONE /
   * SLOT_UNLIMITED.
   */
  readonly slots: readonly number[];
  /** The ops of every counted descriptor, in descriptor order, each descriptor's limits as one group. */
  readonly ops: readonly CounterOp[];
}

/**
 * Validates the request and builds its Plan.
 *
 * @throws InvalidRequestError for an empty domain or no descriptors (the reference answers a plain error, seen by
 *   clients as UNKNOWN; Sluice says INVALID_ARGUMENT on purpose).
 * @throws NoConfigError when no rule set has loaded yet.
 */
export function planRequest(
  request: RateLimitRequest,
  ruleSet: RuleSet | undefined,
  nowMs: Millis,
  cacheKeyPrefix: string,
): Plan {
  const { domain, descriptors } = request;
  if (domain === "") throw new InvalidRequestError("rate limit domain must not be empty");
  const n = descriptors.length;
  if (n === 0) throw new InvalidRequestError("rate limit descriptor list must not be empty");
  if (ruleSet === undefined) throw new NoConfigError();

  const nowSeconds = Math.floor(nowMs / 1000);
  const rules: (LimitRule | undefined)[] = new Array(n);
  const slots: number[] = new Array(n);
  const ops: CounterOp[] = [];
  const domainKnown = ruleSet.hasDomain(domain);
  if (!domainKnown) {
    for (let i = 0; i < n; i++) {
      rules[i] = undefined;
      slots[i] = SLOT_NONE;
    }
    return { request, nowMs, nowSeconds, domainKnown, rules, slots, ops };
  }

  let replaced: Set<string> | undefined;
  for (let i = 0; i < n; i++) {
    const d = descriptors[i] as Descriptor;
    const rule = d.limit === undefined ? ruleSet.findRule(domain, d.entries) : overrideRule(domain, d);
    rules[i] = rule;
    if (rule === undefined) continue;
    for (const limit of rule.limits) {
      if (limit.replaces.length === 0) continue;
      replaced ??= new Set();
      for (const name of limit.replaces) replaced.add(name);
    }
  }

  for (let i = 0; i < n; i++) {
    const rule = rules[i];
    if (rule === undefined) {
      slots[i] = SLOT_NONE;
      continue;
    }
    if (rule.unlimited) {
      // Never dropped by `replaces`, as in the reference (it leaves the limit list before the replace pass).
      slots[i] = SLOT_UNLIMITED;
      continue;
    }
    const limits = replaced === undefined ? rule.limits : keptLimits(rule.limits, replaced);
    if (limits.length === 0) {
      rules[i] = undefined;
      slots[i] = SLOT_NONE;
      continue;
    }
    slots[i] = ops.length;
    const d = descriptors[i] as Descriptor;
    for (let j = 0; j < limits.length; j++) {
      ops.push(
        opFor(cacheKeyPrefix, domain, d, rule, limits[j] as Limit, nowMs, nowSeconds, j === 0 ? limits.length : 0),
      );
    }
  }
  return { request, nowMs, nowSeconds, domainKnown, rules, slots, ops };
}

/** `replaces`: a matched limit whose `name` another matched limit replaces is dropped. */
function keptLimits(limits: readonly Limit[], replaced: ReadonlySet<string>): readonly Limit[] {
  let kept: Limit[] | undefined;
  for (let j = 0; j < limits.length; j++) {
    const limit = limits[j] as Limit;
    const drop = limit.name !== undefined && limit.name !== "" && replaced.has(limit.name);
    if (drop && kept === undefined) kept = limits.slice(0, j);
    else if (!drop && kept !== undefined) kept.push(limit);
  }
  return kept ?? limits;
}

const NO_OVERRIDES: readonly (string | undefined)[] = Object.freeze([]);

/**
 * The synthetic rule of a request-carried `limit` (reference `GetLimit`): rpu and unit from the request, the
 * reference's fixed window, no name, shadow and quota mode off ("When limit override is provided by envoy config, we
 * don't want to enable shadow_mode"), raw values in the cache key. Allocated per request and never retained, so
 * high-cardinality overrides cannot grow memory (unlike reference issue #275).
 */
function overrideRule(domain: string, d: Descriptor): LimitRule {
  const limit = d.limit as NonNullable<Descriptor["limit"]>;
  return {
    fullKey: overrideFullKey(domain, d.entries),
    limits: [overrideLimit(limit.requestsPerUnit, limit.unit)],
    unlimited: false,
    shadowMode: false,
    quotaMode: false,
    detailedMetric: false,
    valueToMetric: false,
    metadata: undefined,
    keyValueOverrides: NO_OVERRIDES,
  };
}

function opFor(
  prefix: string,
  domain: string,
  d: Descriptor,
  rule: LimitRule,
  limit: Limit,
  nowMs: number,
  nowSeconds: number,
  group: number,
): CounterOp {
  const start = windowStartSeconds(nowSeconds, limit.windowSeconds);
  const key =
    limit.keyTag === ""
      ? buildCacheKey(prefix, domain, d.entries, rule.keyValueOverrides, start)
      : buildStateKey(prefix, domain, d.entries, rule.keyValueOverrides, limit.keyTag);
  return { key, hits: d.hits, negative: d.negative, limit, nowMs, windowStartSeconds: start, group };
}
