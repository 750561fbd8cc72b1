/**
 * Sliding window counter (`algorithm: sliding_window`): two epoch-aligned fixed windows per key, the current and the
 * previous one. The usage at time `e` ms into the current window of `W` ms is
 *
 *   used = prev × (W − e) / W + cur
 *
 * (the previous window's count weighted by the part of it still inside the sliding window). Computed scaled by W,
 * `prev × (W − e) + cur × W`, so every comparison is exact integer arithmetic in a double (limits × window ms below
 * 2^53; compile.ts checks it) and the Redis mirror computes the very same numbers.
 *
 * - An op of cost n passes when `prev × (W − e) + (cur + n) × W <= limit × W`; a check (hits 0) needs one unit left.
 *   A rejected op consumes nothing.
 * - Bound on over-admission: the estimate assumes the previous window's hits were spread evenly. If they all came at
 *   its very end, a rolling window of W can hold up to `limit + prev × e / W` < 2 × limit admitted hits; with evenly
 *   spread traffic it holds at most `limit`. There is no double burst at the window edge, unlike the fixed window.
 * - A refund gives back units of the current window first, then of the previous one, never below zero.
 * - Budgets: every charge is counted (into debt); the answer is OVER_LIMIT once less than one unit is left.
 */
import type { CounterOp } from "../domain/types.js";
import { type MemoryCells, outcome, type StepResult, type StrategyModule } from "./strategy.js";

/** `[previous window's count, current window's count]`. */
export type WindowPair = readonly [number, number];

/** Key of one window's counter: the limit's key plus the window's start (Unix seconds). */
export function windowKey(op: CounterOp, startSeconds: number): string {
  return `${op.key}_${startSeconds}`;
}

export const slidingWindow: StrategyModule<WindowPair> = {
  /** The current window's counter, then the previous one's. */
  keys: (op) => [windowKey(op, op.windowStartSeconds), windowKey(op, op.windowStartSeconds - op.limit.windowSeconds)],
  step(state: WindowPair | undefined, op: CounterOp, apply: boolean): StepResult<WindowPair> {
    const { limit, hits } = op;
    const rpu = limit.requestsPerUnit;
    const w = limit.windowSeconds * 1000;
    const e = op.nowMs - op.windowStartSeconds * 1000;
    const prev = state === undefined ? 0 : state[0];
    const cur = state === undefined ? 0 : state[1];
    const cap = rpu * w;
    const weight = prev * (w - e);
    if (op.negative) {
      let take = apply ? hits : 0;
      const fromCur = Math.min(take, cur);
      take -= fromCur;
      const p = take < prev ? prev - take : 0;
      const c = cur - fromCur;
      const next: WindowPair = [p, c];
      const o = outcome(true, remainingOf(cap, p * (w - e) + c * w, w, rpu), 0, resetOf(p, c, w, e), 0, 0);
      return { outcome: o, next, write: p !== prev || c !== cur };
    }
    const fits = weight + (cur + (hits === 0 ? 1 : hits)) * w <= cap;
    const after = apply && (fits || limit.budget) ? cur + hits : cur;
    let admitted = fits;
    if (limit.budget && hits > 0) admitted = weight + (after + 1) * w <= cap;
    const used = weight + after * w;
    const remaining = remainingOf(cap, used, w, rpu);
    const retry = admitted ? 0 : retryOf(prev, after, hits === 0 || limit.budget ? 1 : hits, rpu, w, e);
    const consumed = after - cur;
    const o = outcome(admitted, remaining, retry, resetOf(prev, after, w, e), consumed, rpu - remaining);
    return { outcome: o, next: [prev, after], write: consumed > 0 };
  },
  load(cells: MemoryCells, op: CounterOp): WindowPair | undefined {
    const start = op.windowStartSeconds;
    const cur = cells.count(windowKey(op, start));
    const prev = cells.count(windowKey(op, start - op.limit.windowSeconds));
    return cur === 0 && prev === 0 ? undefined : [prev, cur];
  },
  save(cells: MemoryCells, op: CounterOp, next: WindowPair | undefined): void {
    const start = op.windowStartSeconds;
    const w = op.limit.windowSeconds;
    // A window's counter is read until the end of the window after it.
    cells.setCount(windowKey(op, start - w), next === undefined ? 0 : next[0], start + w);
    cells.setCount(windowKey(op, start), next === undefined ? 0 : next[1], start + 2 * w);
  },
};

function remainingOf(cap: number, used: number, w: number, rpu: number): number {
  if (used >= cap) return 0;
  const r = Math.floor((cap - used) / w);
  return Math.min(r, rpu);
}

/** ms until everything is forgotten: the current window's hits leave one window after it ends. */
function resetOf(prev: number, cur: number, w: number, e: number): number {
  if (cur > 0) return 2 * w - e;
  return prev > 0 ? w - e : 0;
}

/** ms until an op of cost `n` fits, with `prev` and `cur` as they are (nothing else counted meanwhile). */
function retryOf(prev: number, cur: number, n: number, rpu: number, w: number, e: number): number {
  if (n > rpu) return resetOf(prev, cur, w, e);
  if (cur + n <= rpu && prev > 0) {
    // Within this window: prev × (w − e') <= (rpu − cur − n) × w.
    return Math.max(1, Math.ceil(w - ((rpu - cur - n) * w) / prev - e));
  }
  // In the next window, where this window's count becomes the previous one.
  const into = cur === 0 ? 0 : Math.max(0, w - ((rpu - n) * w) / cur);
  return Math.max(1, Math.ceil(w - e + into));
}
