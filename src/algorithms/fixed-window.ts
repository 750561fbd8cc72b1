/**
 * The epoch-aligned fixed window of envoyproxy/ratelimit. This file is the specification every store mirrors (the
 * memory store calls it directly; the Redis store reproduces it with INCRBY, see store/redis/batch-plan.ts).
 *
 * A window of `windowSeconds` (the unit times `unit_multiplier`) starts at `floor(nowSec / windowSeconds) *
 * windowSeconds` (Unix seconds, so every client's windows reset at the same wall-clock boundary) and its counter lives
 * under a key that embeds that start.
 *
 * Semantics (the reference's, kept exactly):
 * - every hit is counted, also past the limit ("count-always"); the answer is OVER_LIMIT when the counter after the
 *   hits exceeds the limit; a check (hits 0) is OK up to and including the limit;
 * - a refund (`is_negative_hits`) decreases the counter, floored at 0;
 * - budgets (`budget: true`): charges count the same way; the answer is OVER_LIMIT once nothing is left (counter >=
 *   limit), and a check is OK only while at least one unit is left.
 * Counters are plain JS numbers: they never wrap at 2^32 (the reference's uint32 does), and since one op adds at most
 * MAX_HITS (2^40) they stay exact far beyond any realistic window.
 */
import type { CounterOp } from "../domain/types.js";
import { type MemoryCells, outcome, type StepResult, type StrategyModule } from "./strategy.js";

/** Start of the window containing `nowSeconds`, in Unix seconds (reference `(now / divider) * divider`). */
export function windowStartSeconds(nowSeconds: number, windowSeconds: number): number {
  return nowSeconds - (nowSeconds % windowSeconds);
}

/** End of the op's window, in Unix seconds. */
export function windowEndSeconds(op: CounterOp): number {
  return op.windowStartSeconds + op.limit.windowSeconds;
}

/**
 * A fixed-window step from a counter at `before` that ends `untilEndMs` from now. Shared by the epoch and the
 * first-hit anchored windows, which differ only in where the window starts.
 */
export function countStep(before: number, op: CounterOp, apply: boolean, untilEndMs: number): StepResult<number> {
  const { hits, limit } = op;
  const rpu = limit.requestsPerUnit;
  if (op.negative) {
    const after = apply ? (before > hits ? before - hits : 0) : before;
    const remaining = after < rpu ? rpu - after : 0;
    return { outcome: outcome(true, remaining, 0, untilEndMs, 0, after), next: after, write: after !== before };
  }
  const after = apply ? before + hits : before;
  let admitted: boolean;
  if (limit.budget) admitted = hits === 0 ? before < rpu : before + hits < rpu;
  else admitted = before + hits <= rpu;
  const remaining = after < rpu ? rpu - after : 0;
  const consumed = apply ? hits : 0;
  return {
    outcome: outcome(admitted, remaining, admitted ? 0 : untilEndMs, untilEndMs, consumed, after),
    next: after,
    write: apply && hits > 0,
  };
}

/**
 * The counter's key: the reference's key already ends with the window start; a tagged key (a limit of a
 * `rate_limits:` list) gets it appended, so a new window never reads an old count whatever the TTLs.
 */
export function counterKey(op: CounterOp): string {
  return op.limit.keyTag === "" ? op.key : `${op.key}_${op.windowStartSeconds}`;
}

export const fixedWindow: StrategyModule<number> = {
  keys: (op) => [counterKey(op)],
  step(state: number | undefined, op: CounterOp, apply: boolean): StepResult<number> {
    return countStep(state ?? 0, op, apply, windowEndSeconds(op) * 1000 - op.nowMs);
  },
  load(cells: MemoryCells, op: CounterOp): number {
    return cells.count(counterKey(op));
  },
  save(cells: MemoryCells, op: CounterOp, next: number | undefined): void {
    cells.setCount(counterKey(op), next ?? 0, windowEndSeconds(op));
  },
};
