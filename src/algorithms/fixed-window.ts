/**
 * The epoch-aligned fixed window of envoyproxy/ratelimit, as pure functions. This file is the specification every
 * store mirrors (the memory store calls it directly; a Redis store reproduces it with INCRBY).
 *
 * A window of `windowSeconds` starts at `floor(nowSec / windowSeconds) * windowSeconds` (Unix seconds, so every
 * client's windows reset at the same wall-clock boundary) and its counter lives under a key that embeds that start.
 */
import type { CounterOp, Verdict } from "../domain/types.js";

/** Start of the window containing `nowSeconds`, in Unix seconds (reference `(now / divider) * divider`). */
export function windowStartSeconds(nowSeconds: number, windowSeconds: number): number {
  return nowSeconds - (nowSeconds % windowSeconds);
}

/**
 * Whole seconds until the window containing `nowSeconds` ends: `divider - now % divider` (reference
 * `CalculateReset`). Always in `[1, windowSeconds]`.
 */
export function secondsUntilReset(nowSeconds: number, windowSeconds: number): number {
  return windowSeconds - (nowSeconds % windowSeconds);
}

/**
 * One counter step: the Verdict for applying `op` to a counter currently at `before`.
 *
 * - `hits` are added (the reference's INCRBY); `hits = 0` reads without counting.
 * - A negative op (Envoy's `is_negative_hits`) is a refund: the counter is decreased by `hits`, floored at 0.
 *
 * Counters are plain JS numbers: they never wrap at 2^32 (the reference's uint32 does), and since one op adds at
 * most MAX_HITS (2^40) they stay exact far beyond any realistic window.
 */
export function fixedWindowStep(before: number, op: CounterOp): Verdict {
  let after: number;
  if (op.negative) {
    after = before > op.hits ? before - op.hits : 0;
  } else {
    after = before + op.hits;
  }
  return { before, after, fromLocalCache: false };
}

/** True when a counter value is over the op's limit (strictly greater, as the reference). */
export function isOverLimit(after: number, limit: number): boolean {
  return after > limit;
}
