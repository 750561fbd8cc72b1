/** The generated RateLimitResponse → the SDK's plain RateLimitResult. */
import {
  RateLimitResponse_Code,
  type RateLimitResponse_DescriptorStatus,
  type RateLimitResponse_RateLimit,
  RateLimitResponse_RateLimit_Unit,
  type RateLimitResponse as RlsResponse,
} from "../gen/envoy/service/ratelimit/v3/rls.js";
import type { DecisionCode, DescriptorResult, LimitInfo, LimitUnit, RateLimitResult } from "./types.js";

const UNITS: Readonly<Record<number, LimitUnit>> = {
  [RateLimitResponse_RateLimit_Unit.SECOND]: "second",
  [RateLimitResponse_RateLimit_Unit.MINUTE]: "minute",
  [RateLimitResponse_RateLimit_Unit.HOUR]: "hour",
  [RateLimitResponse_RateLimit_Unit.DAY]: "day",
  [RateLimitResponse_RateLimit_Unit.WEEK]: "week",
  [RateLimitResponse_RateLimit_Unit.MONTH]: "month",
  [RateLimitResponse_RateLimit_Unit.YEAR]: "year",
};

function toCode(code: RateLimitResponse_Code): DecisionCode {
  if (code === RateLimitResponse_Code.OK) return "OK";
  if (code === RateLimitResponse_Code.OVER_LIMIT) return "OVER_LIMIT";
  return "UNKNOWN";
}

function toLimit(l: RateLimitResponse_RateLimit | undefined): LimitInfo | undefined {
  if (l === undefined) return undefined;
  return { name: l.name, requestsPerUnit: l.requestsPerUnit, unit: UNITS[l.unit] ?? "unknown" };
}

function toDescriptor(s: RateLimitResponse_DescriptorStatus): DescriptorResult {
  const d = s.durationUntilReset;
  return {
    code: toCode(s.code),
    limit: toLimit(s.currentLimit),
    remaining: s.limitRemaining,
    // google.protobuf.Duration: seconds (int64, as bigint here) + nanos.
    resetAfterMs: d === undefined ? undefined : Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6),
  };
}

export function toResult(res: RlsResponse): RateLimitResult {
  const descriptors = res.statuses.map(toDescriptor);
  let closest: DescriptorResult | undefined;
  let retryAfterMs: number | undefined;
  for (const d of descriptors) {
    if (d.limit !== undefined && (closest === undefined || d.remaining < closest.remaining)) closest = d;
    if (d.code === "OVER_LIMIT" && d.resetAfterMs !== undefined) {
      retryAfterMs = retryAfterMs === undefined ? d.resetAfterMs : Math.max(retryAfterMs, d.resetAfterMs);
    }
  }
  const code = toCode(res.overallCode);
  return {
    allowed: code !== "OVER_LIMIT",
    code,
    descriptors,
    remaining: closest?.remaining,
    limit: closest?.limit,
    resetAfterMs: closest?.resetAfterMs,
    retryAfterMs: code === "OVER_LIMIT" ? (retryAfterMs ?? 0) : undefined,
    headers: res.responseHeadersToAdd.map((h) => ({ key: h.key, value: h.value })),
    failedOpen: false,
  };
}

/** The result of a call Sluice did not answer, when the client fails open. */
export function failedOpenResult(descriptorCount: number): RateLimitResult {
  const descriptors: DescriptorResult[] = [];
  for (let i = 0; i < descriptorCount; i++) {
    descriptors.push({ code: "UNKNOWN", limit: undefined, remaining: 0, resetAfterMs: undefined });
  }
  return {
    allowed: true,
    code: "UNKNOWN",
    descriptors,
    remaining: undefined,
    limit: undefined,
    resetAfterMs: undefined,
    retryAfterMs: undefined,
    headers: [],
    failedOpen: true,
  };
}
