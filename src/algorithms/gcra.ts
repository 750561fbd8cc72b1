/**
 * GCRA, the generic cell rate algorithm: the exact form of a token bucket (`algorithm: token_bucket`) and of a
 * leaky bucket used as a meter (`algorithm: leaky_bucket`): one algorithm, seen from the bucket's side (tokens
 * refill) or from the queue's side (the queue leaks). Capacity `burst` units, refilled (leaked) at `requests_per_unit`
 * per window, continuously. Sluice answers at once and never queues: a leaky bucket's "wait in the queue" is the
 * retry-after it reports.
 *
 * Exact integer arithmetic: time is counted in "ms × rpu" so that one unit costs exactly `windowMs` of it and the
 * bucket holds `burst × windowMs` (compile.ts keeps that below 2^53). State: `[anchorMs, debt]`, the debt (used
 * capacity, in ms × rpu) as it was at `anchorMs`; it drains by `rpu` per ms.
 *
 * - From a fresh key exactly `burst` unit-cost requests pass at once, then one more every `windowMs / rpu` ms.
 * - An op of cost n passes when `debt + n × windowMs <= burst × windowMs`; a check (hits 0) needs one unit. A
 *   rejected op consumes nothing; a cost above `burst` never passes.
 * - A refund lowers the debt, never below zero (a full bucket).
 * - Budgets: every charge is added, past the capacity (debt); the bucket refills it at its rate, and the answer is
 *   OVER_LIMIT once less than one unit is left.
 */
import type { CounterOp } from "../domain/types.js";
import { type MemoryCells, outcome, type StepResult, type StrategyModule } from "./strategy.js";

/** `[anchorMs, debt]`: debt in ms × rpu at anchorMs. */
export type Meter = readonly [number, number];

export const gcra: StrategyModule<Meter> = {
  keys: (op) => [op.key],
  step(state: Meter | undefined, op: CounterOp, apply: boolean): StepResult<Meter> {
    const { limit, hits } = op;
    const rpu = limit.requestsPerUnit;
    const unit = limit.windowSeconds * 1000;
    const cap = limit.burst * unit;
    const debt = drained(state, op.nowMs, rpu);
    if (op.negative) {
      const take = apply ? hits * unit : 0;
      const after = take < debt ? debt - take : 0;
      const o = outcome(true, remainingOf(cap, after, unit), 0, Math.ceil(after / rpu), 0, 0);
      return { outcome: o, next: after === 0 ? undefined : [op.nowMs, after], write: after !== debt };
    }
    const cost = hits * unit;
    const fits = debt + (hits === 0 ? unit : cost) <= cap;
    const charged = apply && (fits || limit.budget);
    const after = charged ? Math.min(debt + cost, Number.MAX_SAFE_INTEGER) : debt;
    let admitted = fits;
    if (limit.budget && hits > 0) admitted = after + unit <= cap;
    const remaining = remainingOf(cap, after, unit);
    let retry = 0;
    if (!admitted) {
      const need = hits === 0 || limit.budget ? unit : cost;
      retry = need > cap ? Math.ceil(after / rpu) : Math.ceil((after + need - cap) / rpu);
    }
    const consumed = charged ? hits : 0;
    const o = outcome(admitted, remaining, retry, Math.ceil(after / rpu), consumed, limit.burst - remaining);
    return { outcome: o, next: after === 0 ? undefined : [op.nowMs, after], write: charged && hits > 0 };
  },
  load(cells: MemoryCells, op: CounterOp): Meter | undefined {
    const r = cells.record(op.key);
    return r === undefined ? undefined : [r.a, r.b];
  },
  save(cells: MemoryCells, op: CounterOp, next: Meter | undefined): void {
    if (next === undefined) cells.remove(op.key);
    else cells.setRecord(op.key, next[0], next[1], Math.ceil((next[0] + next[1] / op.limit.requestsPerUnit) / 1000));
  },
};

/** The debt at `nowMs`: what was left at the anchor minus what has drained since (never below zero). */
export function drained(state: Meter | undefined, nowMs: number, rpu: number): number {
  if (state === undefined) return 0;
  const elapsed = nowMs > state[0] ? nowMs - state[0] : 0;
  const left = state[1] - elapsed * rpu;
  return Math.max(left, 0);
}

function remainingOf(cap: number, debt: number, unit: number): number {
  return debt >= cap ? 0 : Math.floor((cap - debt) / unit);
}
