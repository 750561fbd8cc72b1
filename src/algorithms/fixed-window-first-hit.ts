/**
 * The fixed window anchored at the key's first hit (`window_anchor: first_hit`): the window starts when the key is
 * first counted and lasts `windowSeconds`, as apps do with INCR-then-EXPIRE, and as a session budget needs ("$5 per
 * 30-minute session"). Counting is the fixed window's (fixed-window.ts `countStep`), only the window's start differs.
 *
 * State: `[startMs, count]`. A window that has ended is a fresh key: the next counted hit starts a new one.
 */
import type { CounterOp } from "../domain/types.js";
import { countStep } from "./fixed-window.js";
import type { MemoryCells, StepResult, StrategyModule } from "./strategy.js";

/** `[window start in ms since the epoch, count]`. */
export type AnchoredCount = readonly [number, number];

export const fixedWindowFirstHit: StrategyModule<AnchoredCount> = {
  keys: (op) => [op.key],
  step(state: AnchoredCount | undefined, op: CounterOp, apply: boolean): StepResult<AnchoredCount> {
    const windowMs = op.limit.windowSeconds * 1000;
    const live = state !== undefined && op.nowMs < state[0] + windowMs;
    const startMs = live ? state[0] : op.nowMs;
    const r = countStep(live ? state[1] : 0, op, apply, startMs + windowMs - op.nowMs);
    const count = r.next ?? 0;
    return { outcome: r.outcome, next: count === 0 ? undefined : [startMs, count], write: r.write };
  },
  load(cells: MemoryCells, op: CounterOp): AnchoredCount | undefined {
    const r = cells.record(op.key);
    return r === undefined ? undefined : [r.a, r.b];
  },
  save(cells: MemoryCells, op: CounterOp, next: AnchoredCount | undefined): void {
    if (next === undefined) cells.remove(op.key);
    else cells.setRecord(op.key, next[0], next[1], Math.ceil((next[0] + op.limit.windowSeconds * 1000) / 1000));
  },
};
