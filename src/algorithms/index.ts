/**
 * Dispatch from a limit's strategy to its module (checked exhaustively by the compiler), and the one rule every
 * store follows to apply ops: `evaluateOps`.
 */
import type { CounterOp, Outcome, Strategy } from "../domain/types.js";
import { fixedWindow } from "./fixed-window.js";
import { fixedWindowFirstHit } from "./fixed-window-first-hit.js";
import { gcra } from "./gcra.js";
import { slidingWindow } from "./sliding-window.js";
import type { MemoryCells, StrategyModule } from "./strategy.js";

export { windowStartSeconds } from "./fixed-window.js";

const MODULES: { readonly [S in Strategy]: StrategyModule<unknown> } = {
  fixed_window: fixedWindow as StrategyModule<unknown>,
  fixed_window_first_hit: fixedWindowFirstHit as StrategyModule<unknown>,
  sliding_window: slidingWindow as StrategyModule<unknown>,
  gcra: gcra as StrategyModule<unknown>,
};

export function moduleOf(op: CounterOp): StrategyModule<unknown> {
  return MODULES[op.limit.strategy];
}

/**
 * Where the states of ops come from and go to. The memory store reads and writes its cells; the Redis store hands
 * in the states its script read (the script already wrote, with the same rule) and ignores writes.
 */
export interface StateAccess {
  read(op: CounterOp, index: number): unknown;
  write(op: CounterOp, index: number, next: unknown): void;
}

/**
 * Applies `ops` in order and fills `out` with one Outcome per op. A group (`CounterOp.group` > 1, one descriptor's
 * limits) is all-or-nothing: it is applied only when every member admits it (a budget group always is: charges are
 * never lost); otherwise nothing is written and every member reports the outcome of not being applied. An op alone
 * writes what its module says (the fixed window counts even rejected hits, as the reference).
 */
export function evaluateOps(ops: readonly CounterOp[], access: StateAccess, out: Outcome[]): void {
  const n = ops.length;
  let i = 0;
  while (i < n) {
    const op = ops[i] as CounterOp;
    const size = Math.max(op.group, 1);
    if (size === 1) {
      const m = MODULES[op.limit.strategy];
      const state = access.read(op, i);
      const r = m.step(state, op, true);
      if (r.write) access.write(op, i, r.next);
      out[i] = r.outcome;
      i++;
      continue;
    }
    evaluateGroup(ops, i, Math.min(size, n - i), access, out);
    i += size;
  }
}

function evaluateGroup(ops: readonly CounterOp[], first: number, size: number, access: StateAccess, out: Outcome[]) {
  const states: unknown[] = new Array(size);
  const nexts: unknown[] = new Array(size);
  let all = true;
  let budget = false;
  for (let j = 0; j < size; j++) {
    const op = ops[first + j] as CounterOp;
    const state = access.read(op, first + j);
    states[j] = state;
    const r = MODULES[op.limit.strategy].step(state, op, true);
    nexts[j] = r.next;
    out[first + j] = r.outcome;
    all &&= r.outcome.admitted || op.negative;
    budget ||= op.limit.budget && !op.negative && op.hits > 0;
  }
  if (all || budget) {
    for (let j = 0; j < size; j++) {
      const op = ops[first + j] as CounterOp;
      if (op.hits > 0) access.write(op, first + j, nexts[j]);
    }
    return;
  }
  for (let j = 0; j < size; j++) {
    const op = ops[first + j] as CounterOp;
    const admitted = (out[first + j] as Outcome).admitted;
    const r = MODULES[op.limit.strategy].step(states[j], op, false).outcome;
    out[first + j] = r.admitted === admitted ? r : { ...r, admitted, retryAfterMs: admitted ? 0 : r.retryAfterMs };
  }
}

/** The memory store's StateAccess over its cells. */
export function memoryAccess(cells: MemoryCells): StateAccess {
  return {
    read: (op) => MODULES[op.limit.strategy].load(cells, op),
    write: (op, _i, next) => MODULES[op.limit.strategy].save(cells, op, next),
  };
}
