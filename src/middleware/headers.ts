/**
 * Rate limit response headers from a decision: the IETF draft's `RateLimit-Limit`, `RateLimit-Remaining` and
 * `RateLimit-Reset` (delta seconds), the older `X-RateLimit-*` trio many clients still read, and `Retry-After`
 * (seconds) when limited.
 */
import type { RateLimitResult } from "../client/types.js";

export type HeaderList = readonly (readonly [name: string, value: string])[];

const NONE: HeaderList = Object.freeze([]);

export function limitHeaders(result: RateLimitResult): HeaderList {
  if (result.limit === undefined) return NONE;
  const limit = String(result.limit.requestsPerUnit);
  const remaining = String(result.remaining ?? 0);
  const reset = String(Math.ceil((result.resetAfterMs ?? 0) / 1000));
  return [
    ["RateLimit-Limit", limit],
    ["RateLimit-Remaining", remaining],
    ["RateLimit-Reset", reset],
    ["X-RateLimit-Limit", limit],
    ["X-RateLimit-Remaining", remaining],
    ["X-RateLimit-Reset", reset],
  ];
}

/** Whole seconds, at least 1: a limited client told "0" would retry at once and be limited again. */
export function retryAfterSeconds(result: RateLimitResult): number {
  return Math.max(1, Math.ceil((result.retryAfterMs ?? 0) / 1000));
}
