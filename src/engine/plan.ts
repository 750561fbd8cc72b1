/**
 * First half of ShouldRateLimit, pure: request + RuleSet + now → the counter ops to apply (envoyproxy/ratelimit's
 * `constructLimitsToCheck` and `GenerateCacheKeys`). No I/O, no clock, no stats.
 */
import { windowStartSeconds } from "../algorithms/index.js";
import { InvalidRequestError, NoConfigError } from "../domain/errors.js";
import type { CounterOp, Descriptor, LimitRule, Millis, RateLimitRequest, RuleSet } from "../domain/types.js";
import { UNIT_SECONDS } from "../domain/types.js";
import { buildCacheKey, overrideFullKey } from "./cache-key.js";

/** `Plan.slots` value: no rule applies (unknown domain, no match, or replaced). */
export const SLOT_NONE = -1;
/** `Plan.slots` value: the matched rule is `unlimited` (never touches the store). */
export const SLOT_UNLIMITED = -2;

/** What the engine decided to ask the store, and what it needs to turn the answers into a Decision. */
export interface Plan {
  readonly request: RateLimitRequest;
  /** Unix seconds of the decision (the reference's `UnixNow()`), used for windows and resets. */
  readonly nowSeconds: number;
  /** False when the domain is not configured: every descriptor is answered OK (stat `domain_not_found`). */
  readonly domainKnown: boolean;
  /** Per descriptor: the rule that applies (undefined when none or replaced; kept for `unlimited`). */
  readonly rules: readonly (LimitRule | undefined)[];
  /** Per descriptor: index into `ops`, or SLOT_NONE / SLOT_UNLIMITED. */
  readonly slots: readonly number[];
  /** One op per counted descriptor, in descriptor order. */
  readonly ops: readonly CounterOp[];
}

const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_OVERRIDES: readonly (string | undefined)[] = Object.freeze([]);

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
    return { request, nowSeconds, domainKnown, rules, slots, ops };
  }

  let replaced: Set<string> | undefined;
  for (let i = 0; i < n; i++) {
    const d = descriptors[i] as Descriptor;
    const rule = d.limit === undefined ? ruleSet.findRule(domain, d.entries) : overrideRule(domain, d);
    rules[i] = rule;
    if (rule !== undefined && rule.replaces.length > 0) {
      replaced ??= new Set();
      for (const name of rule.replaces) replaced.add(name);
    }
  }
  if (replaced !== undefined) dropReplaced(rules, replaced);

  for (let i = 0; i < n; i++) {
    const rule = rules[i];
    if (rule === undefined) {
      slots[i] = SLOT_NONE;
    } else if (rule.unlimited) {
      slots[i] = SLOT_UNLIMITED;
    } else {
      slots[i] = ops.length;
      ops.push(opFor(cacheKeyPrefix, domain, descriptors[i] as Descriptor, rule, nowSeconds));
    }
  }
  return { request, nowSeconds, domainKnown, rules, slots, ops };
}

/**
 * `replaces`: a matched, limited rule whose `name` another matched rule replaces is dropped (answered like no match).
 * An `unlimited` rule is never dropped, as in the reference (it leaves the limit list before the replace pass).
 */
function dropReplaced(rules: (LimitRule | undefined)[], replaced: ReadonlySet<string>): void {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule !== undefined && !rule.unlimited && rule.name && replaced.has(rule.name)) rules[i] = undefined;
  }
}

/**
 * The synthetic rule of a request-carried `limit` (reference `GetLimit`): rpu and unit from the request, no name,
 * shadow and quota mode off ("When limit override is provided by envoy config, we don't want to enable shadow_mode"),
 * raw values in the cache key. Allocated per request and never retained, so high-cardinality overrides cannot grow
 * memory (unlike reference issue #275).
 */
function overrideRule(domain: string, d: Descriptor): LimitRule {
  const limit = d.limit as NonNullable<Descriptor["limit"]>;
  return {
    fullKey: overrideFullKey(domain, d.entries),
    requestsPerUnit: limit.requestsPerUnit,
    unit: limit.unit,
    unlimited: false,
    shadowMode: false,
    quotaMode: false,
    name: undefined,
    replaces: NO_STRINGS,
    detailedMetric: false,
    valueToMetric: false,
    metadata: undefined,
    keyValueOverrides: NO_OVERRIDES,
    algorithm: "fixed_window",
  };
}

function opFor(prefix: string, domain: string, d: Descriptor, rule: LimitRule, nowSeconds: number): CounterOp {
  const windowSeconds = UNIT_SECONDS[rule.unit];
  const start = windowStartSeconds(nowSeconds, windowSeconds);
  return {
    key: buildCacheKey(prefix, domain, d.entries, rule.keyValueOverrides, start),
    hits: d.hits,
    negative: d.negative,
    limit: rule.requestsPerUnit,
    unit: rule.unit,
    windowSeconds,
    windowStartSeconds: start,
    expiresAtMs: (start + windowSeconds) * 1000,
    algorithm: rule.algorithm,
  };
}
