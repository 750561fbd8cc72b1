/**
 * Second half of ShouldRateLimit, pure apart from reporting stats: Plan + one Verdict per op → Decision
 * (envoyproxy/ratelimit's `GetResponseDescriptorStatus` per descriptor and `shouldRateLimitWorker`'s overall code,
 * headers and metadata).
 */
import { secondsUntilReset } from "../algorithms/index.js";
import type { DecisionObserver, DescriptorOutcome } from "../domain/ports.js";
import type { CounterOp, Decision, Descriptor, DescriptorStatus, Header, LimitRule, Verdict } from "../domain/types.js";
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
export function finishDecision(plan: Plan, verdicts: readonly Verdict[], ctx: FinishContext): Decision {
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
      const op = plan.ops[slot] as CounterOp;
      status = countedStatus(plan, i, rule as LimitRule, op, verdicts[slot], ctx);
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
  const responseHeaders =
    ctx.responseHeaders !== undefined && chosen !== undefined
      ? buildResponseHeaders(ctx.responseHeaders, chosen)
      : NO_HEADERS;
  let overallCode: Decision["overallCode"] = over ? "OVER_LIMIT" : "OK";
  if (over && ctx.globalShadowMode) {
    overallCode = "OK";
    ctx.observer.globalShadowMode();
  }
  const dynamicMetadata = ctx.responseDynamicMetadata
    ? buildDynamicMetadata(plan.request, statuses, slots, rules)
    : undefined;
  return { overallCode, statuses, responseHeaders, dynamicMetadata };
}

/**
 * The status of one counted descriptor (reference `GetResponseDescriptorStatus`), reporting its stats.
 *
 * Negative hits (Envoy's `is_negative_hits`, which the reference ignores) are a refund: the store decreased the
 * counter by `hits`, floored at 0, and the descriptor is answered OK whatever the count, with no stats.
 */
function countedStatus(
  plan: Plan,
  index: number,
  rule: LimitRule,
  op: CounterOp,
  verdict: Verdict | undefined,
  ctx: FinishContext,
): DescriptorStatus {
  const nowSeconds = plan.nowSeconds;
  if (verdict === undefined) throw new Error("counter store returned fewer verdicts than ops");
  const limit = rule.requestsPerUnit;
  const after = verdict.after;
  const currentLimit = { requestsPerUnit: limit, unit: rule.unit, name: rule.name };
  const durationUntilResetSeconds = secondsUntilReset(nowSeconds, op.windowSeconds);
  if (op.negative) {
    return { code: "OK", currentLimit, limitRemaining: after > limit ? 0 : limit - after, durationUntilResetSeconds };
  }
  const overLimit = verdict.fromLocalCache || after > limit;
  const outcome = descriptorOutcome(
    plan.request.domain,
    rule,
    op.hits,
    after,
    verdict.fromLocalCache,
    ctx.nearLimitRatio32,
  );
  // detailed_metric / value_to_metric rules put request values into their stats key (reference GetLimit). A request
  // override's rule lives for this request only, so its key is given too: observers may cache per rule object only
  // what comes without a metricKey (telemetry/stats.ts does).
  const descriptor = plan.request.descriptors[index] as Descriptor;
  const metricKey = descriptor.limit !== undefined ? rule.fullKey : metricKeyFor(rule, descriptor.entries);
  ctx.observer.descriptorDecided(
    metricKey === rule.fullKey && descriptor.limit === undefined ? outcome : { ...outcome, metricKey },
  );
  if (!overLimit) {
    return { code: "OK", currentLimit, limitRemaining: limit - after, durationUntilResetSeconds };
  }
  // A shadow_mode rule counts and reports but always answers OK (with 0 remaining, as the reference).
  const code = rule.shadowMode ? "OK" : "OVER_LIMIT";
  return { code, currentLimit, limitRemaining: 0, durationUntilResetSeconds };
}

/**
 * The reference's stat split for one descriptor, pure: if the counter was already at or over the limit before,
 * every hit is `over_limit`; otherwise `after - rpu` are over and `rpu - max(near, before)` are near; for an OK
 * result, hits above the near threshold (`floor(float32(rpu) * NEAR_LIMIT_RATIO)`) are near and all are within.
 * `before` is `after - hits` as in the reference (also when STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT did not count
 * them), floored at 0. A local-cache hit is all over (and `over_limit_with_local_cache`). For a shadow-mode rule
 * over its limit, `shadowMode` is set and the reference's `shadow_mode` stat equals `overLimitHits`.
 */
export function descriptorOutcome(
  domain: string,
  rule: LimitRule,
  hits: number,
  after: number,
  fromLocalCache: boolean,
  nearLimitRatio32: number,
): DescriptorOutcome {
  const limit = rule.requestsPerUnit;
  let overLimitHits = 0;
  let nearLimitHits = 0;
  let withinLimitHits = 0;
  if (fromLocalCache) {
    overLimitHits = hits;
  } else {
    const before = after > hits ? after - hits : 0;
    const near = Math.floor(Math.fround(Math.fround(limit) * nearLimitRatio32));
    if (after > limit) {
      if (before >= limit) {
        overLimitHits = hits;
      } else {
        overLimitHits = after - limit;
        nearLimitHits = limit - Math.max(near, before);
      }
    } else {
      withinLimitHits = hits;
      if (after > near) nearLimitHits = before >= near ? hits : after - near;
    }
  }
  return {
    domain,
    rule,
    hits,
    overLimitHits,
    nearLimitHits,
    withinLimitHits,
    overLimitWithLocalCache: fromLocalCache,
    shadowMode: rule.shadowMode && (fromLocalCache || after > limit),
  };
}
