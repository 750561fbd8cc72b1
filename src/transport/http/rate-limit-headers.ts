/**
 * The X-RateLimit-* and Retry-After headers of a decision, computed as Envoy's rate limit filter does with
 * `enable_x_ratelimit_headers: DRAFT_VERSION_03` (envoy ratelimit_headers.cc) and its `Retry-After` option, so a
 * client sees the same headers behind nginx (nginx-auth.ts) as behind Envoy:
 * - among statuses that carry a limit, the one with the fewest remaining requests is chosen;
 * - `X-RateLimit-Limit`: its requests_per_unit, then `<rpu>;w=<window seconds>[;name="<name>"]` for every limit;
 * - `X-RateLimit-Remaining`, `X-RateLimit-Reset`: its remaining count and seconds until its window resets;
 * - `Retry-After` (only when over limit): the longest reset among the over-limit statuses, at least 1 second.
 */
import { type Decision, type DescriptorStatus, UNIT_SECONDS } from "../../domain/types.js";

export interface RateLimitHeaders {
  readonly limit: string;
  readonly remaining: string;
  readonly reset: string;
  /** Present only when the decision is OVER_LIMIT. */
  readonly retryAfter: string | undefined;
}

/** The headers for `decision`, or undefined when no status carries a limit (nothing matched, or unlimited). */
export function rateLimitHeaders(decision: Decision): RateLimitHeaders | undefined {
  let chosen: DescriptorStatus | undefined;
  let policies = "";
  let retryAfter = 0;
  for (const status of decision.statuses) {
    const limit = status.currentLimit;
    if (status.code === "OVER_LIMIT") retryAfter = Math.max(retryAfter, status.durationUntilResetSeconds ?? 0, 1);
    if (limit === undefined) continue;
    if (chosen === undefined || status.limitRemaining < chosen.limitRemaining) chosen = status;
    policies += `, ${limit.requestsPerUnit};w=${UNIT_SECONDS[limit.unit]}`;
    if (limit.name !== undefined && limit.name !== "") policies += `;name=${JSON.stringify(limit.name)}`;
  }
  if (chosen?.currentLimit === undefined) return undefined;
  return {
    limit: `${chosen.currentLimit.requestsPerUnit}${policies}`,
    remaining: String(chosen.limitRemaining),
    reset: String(chosen.durationUntilResetSeconds ?? 0),
    retryAfter: decision.overallCode === "OVER_LIMIT" ? String(Math.max(retryAfter, 1)) : undefined,
  };
}
