/**
 * Second half of ShouldRateLimit, pure apart from reporting stats: Plan + one Outcome per op → Decision
 * (envoyproxy/ratelimit's `GetResponseDescriptorStatus` per descriptor and `shouldRateLimitWorker`'s overall code,
 * headers and metadata).
 */
import type { DecisionObserver, DescriptorOutcome } from "../domain/ports.js";
import type {
  CounterOp,
  Decision,
  Descriptor,
  DescriptorStatus,
  Header,
  Limit,
  LimitRule,
  Outcome,
} from "../domain/types.js";
import { UNLIMITED_REMAINING } from "../domain/types.js";
import { metricKeyFor } from "../rules/metric-key.js";
import type { EngineOptions } from "./options.js";
import { type Plan, SLOT_NONE, SLOT_UNLIMITED } from "./plan.js";
import { buildDynamicMetadata, buildResponseHeaders } from "./response-extras.js";

/** Options and observer resolved once per limiter, so the hot path recomputes nothing. */
export interface FinishContext {
  /** NEAR_LIMIT_RATIO as a float32, as the reference multiplies it (`float32(rpu) * ratio`). */
  readonly nearLimitRatio32: number;
  readonly globalShadowMode: boolean;
  readonly globalQuotaMode: boolean;
  readonly responseHeaders: EngineOptions["responseHeaders"];
  readonly responseDynamicMetadata: boolean;
  readonly observer: DecisionObserver;
}

export function createFinishContext(options: EngineOptions, observer: DecisionObserver): FinishContext {
  return Object.freeze({
    nearLimitRatio32: Math.fround(options.nearLimitRatio),
    globalShadowMode: options.globalShadowMode,
    globalQuotaMode: options.globalQuotaMode,
    responseHeaders: options.responseHeaders,
    responseDynamicMetadata: options.responseDynamicMetadata,
    observer,
  });
}

/** Status of a descriptor no rule applies to (unknown domain, no match, replaced). */
const NO_LIMIT_STATUS: DescriptorStatus = Object.freeze({
  code: "OK",
  currentLimit: undefined,
  limitRemaining: 0,
  durationUntilResetSeconds: undefined,
});

/** Status of an `unlimited` rule: OK with uint32-max remaining and no current_limit (reference). */
const UNLIMITED_STATUS: DescriptorStatus = Object.freeze({
  code: "OK",
  currentLimit: undefined,
  limitRemaining: UNLIMITED_REMAINING,
  durationUntilResetSeconds: undefined,
});

const NO_HEADERS: readonly Header[] = Object.freeze([]);

/**
 * Builds the Decision. Overall code (reference, after PR #1059): OVER_LIMIT iff at least one non-quota descriptor
 * is over its limit, or every quota-mode descriptor is (quota = rule `quota_mode` or global QUOTA_MODE). A quota
 * descriptor that is over keeps OVER_LIMIT in its own status. Global SHADOW_MODE then turns a final OVER_LIMIT
 * into OK.
 */
export function finishDecision(plan: Plan, outcomes: readonly Outcome[], ctx: FinishContext, storeMs = 0): Decision {
  const { rules, slots } = plan;
  const n = slots.length;
  const statuses: DescriptorStatus[] = new Array(n);
  const trackHeaders = ctx.responseHeaders !== undefined;
  let chosen: DescriptorStatus | undefined;
  let minRemaining = UNLIMITED_REMAINING;
  let failedNonQuota = 0;
  let quotaTotal = 0;
  let quotaOver = 0;
  for (let i = 0; i < n; i++) {
    const slot = slots[i] as number;
    if (slot === SLOT_UNLIMITED) {
      statuses[i] = UNLIMITED_STATUS;
      continue;
    }
    const rule = rules[i];
    let status = NO_LIMIT_STATUS;
    if (slot !== SLOT_NONE) {
      status = countedStatus(plan, i, rule as LimitRule, slot, outcomes, ctx);
    }
    statuses[i] = status;
    // The status closest to its limit feeds the RateLimit-* headers.
    if (trackHeaders && status.currentLimit !== undefined && status.limitRemaining < minRemaining) {
      chosen = status;
      minRemaining = status.limitRemaining;
    }
    const quota = ctx.globalQuotaMode || rule?.quotaMode === true;
    if (quota) quotaTotal++;
    if (status.code === "OVER_LIMIT") {
      if (quota) {
        quotaOver++;
      } else {
        // An over-limit non-quota descriptor always wins the headers (the last one, as the reference).
        failedNonQuota++;
        chosen = status;
        minRemaining = 0;
      }
    }
  }
  const over = failedNonQuota > 0 || (quotaTotal > 0 && quotaOver === quotaTotal);
  let overallCode: Decision["overallCode"] = over ? "OVER_LIMIT" : "OK";
  if (over && ctx.globalShadowMode) {
    overallCode = "OK";
    ctx.observer.globalShadowMode();
  }
  // Retry-After only when the request is refused: never on an answer that lets it through (global shadow mode, a
  // quota descriptor over while others are not).
  const responseHeaders =
    ctx.responseHeaders !== undefined && chosen !== undefined
      ? buildResponseHeaders(ctx.responseHeaders, chosen, overallCode === "OVER_LIMIT")
      : NO_HEADERS;
  const dynamicMetadata = ctx.responseDynamicMetadata
    ? buildDynamicMetadata(plan.request, statuses, slots, rules)
    : undefined;
  return { overallCode, statuses, responseHeaders, dynamicMetadata, storeMs };
}

/**
 * The status of one counted descriptor (reference `GetResponseDescriptorStatus`), reporting its stats. Several
 * limits report the one that decided: when over, the rejecting limit with the longest wait; when allowed, the one
 * with the least remaining.
 *
 * - `limit_remaining`: whole units that would pass now (0 for a reference fixed window over its limit).
 * - `duration_until_reset`: OVER_LIMIT: seconds until the request could pass (rounded up, at least 1); OK: seconds
 *   until that limit is fully reset (the reference's seconds to the window's end for a fixed window).
 * - Negative hits (Envoy's `is_negative_hits`, which the reference ignores) are a refund: answered OK, no stats.
 */
function countedStatus(
  plan: Plan,
  index: number,
  rule: LimitRule,
  slot: number,
  outcomes: readonly Outcome[],
  ctx: FinishContext,
): DescriptorStatus {
  const first = plan.ops[slot] as CounterOp;
  const size = Math.max(first.group, 1);
  let decider = slot;
  let over = false;
  for (let j = slot; j < slot + size; j++) {
    const o = outcomes[j];
    if (o === undefined) throw new Error("counter store returned fewer outcomes than ops");
    const best = outcomes[decider] as Outcome;
    if (!o.admitted) {
      if (!over || o.retryAfterMs > best.retryAfterMs) decider = j;
      over = true;
    } else if (!over && o.remaining < best.remaining) {
      decider = j;
    }
  }
  const op = plan.ops[decider] as CounterOp;
  const o = outcomes[decider] as Outcome;
  const limit = op.limit;
  const currentLimit = { requestsPerUnit: limit.requestsPerUnit, unit: limit.unit, name: limit.name };
  if (op.negative) {
    const durationUntilResetSeconds = Math.ceil(o.resetAfterMs / 1000);
    return { code: "OK", currentLimit, limitRemaining: o.remaining, durationUntilResetSeconds };
  }
  const overLimit = o.fromLocalCache || !o.admitted;
  const outcome = descriptorOutcome(plan.request.domain, rule, limit, op.hits, o, ctx.nearLimitRatio32);
  // detailed_metric / value_to_metric rules put request values into their stats key (reference GetLimit). A request
  // override's rule lives for this request only, so its key is given too: observers may cache per rule object only
  // what comes without a metricKey (telemetry/stats.ts does).
  const descriptor = plan.request.descriptors[index] as Descriptor;
  const metricKey = descriptor.limit !== undefined ? rule.fullKey : metricKeyFor(rule, descriptor.entries);
  ctx.observer.descriptorDecided(
    metricKey === rule.fullKey && descriptor.limit === undefined ? outcome : { ...outcome, metricKey },
  );
  if (!overLimit) {
    const durationUntilResetSeconds = Math.ceil(o.resetAfterMs / 1000);
    return { code: "OK", currentLimit, limitRemaining: o.remaining, durationUntilResetSeconds };
  }
  const retry = Math.ceil(o.retryAfterMs / 1000);
  const durationUntilResetSeconds = Math.max(retry, 1);
  // A shadow_mode rule counts and reports but always answers OK (with 0 remaining, as the reference).
  if (rule.shadowMode) return { code: "OK", currentLimit, limitRemaining: 0, durationUntilResetSeconds };
  return { code: "OVER_LIMIT", currentLimit, limitRemaining: o.remaining, durationUntilResetSeconds };
}

/**
 * The reference's stat split for one descriptor, pure. For an op that counted (`used` is the counter after it): if
 * the counter was already at or over the limit before, every hit is `over_limit`; otherwise `after - rpu` are over
 * and `rpu - max(near, before)` are near; for an admitted op, hits above the near threshold
 * (`floor(float32(capacity) * NEAR_LIMIT_RATIO)`) are near and all are within. An op that was rejected without
 * consuming anything (buckets, sliding windows, a check) is all over. A local-cache hit is all over (and
 * `over_limit_with_local_cache`). For a shadow-mode rule over its limit, `shadowMode` is set and the reference's
 * `shadow_mode` stat equals `overLimitHits`.
 */
export function descriptorOutcome(
  domain: string,
  rule: LimitRule,
  limit: Limit,
  hits: number,
  o: Outcome,
  nearLimitRatio32: number,
): DescriptorOutcome {
  const capacity = limit.burst;
  let overLimitHits = 0;
  let nearLimitHits = 0;
  let withinLimitHits = 0;
  const fromLocalCache = o.fromLocalCache;
  if (fromLocalCache || (!o.admitted && o.consumed === 0)) {
    overLimitHits = hits;
  } else {
    const after = o.used;
    const before = after > hits ? after - hits : 0;
    const near = Math.floor(Math.fround(Math.fround(capacity) * nearLimitRatio32));
    if (!o.admitted) {
      if (before >= capacity) {
        overLimitHits = hits;
      } else {
        overLimitHits = after - capacity;
        nearLimitHits = capacity - Math.max(near, before);
      }
    } else {
      withinLimitHits = hits;
      if (after > near) nearLimitHits = before >= near ? hits : after - near;
    }
  }
  return {
    domain,
    rule,
    limit,
    hits,
    overLimitHits,
    nearLimitHits,
    withinLimitHits,
    overLimitWithLocalCache: fromLocalCache,
    shadowMode: rule.shadowMode && (fromLocalCache || !o.admitted),
  };
}
