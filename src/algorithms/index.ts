/**
 * Dispatch from a CounterOp's `algorithm` to its pure step function. Only the reference's fixed window exists today;
 * new algorithms add a case here and a mirror in every store.
 */
import type { CounterOp, Verdict } from "../domain/types.js";
import { fixedWindowStep } from "./fixed-window.js";

export { fixedWindowStep, isOverLimit, secondsUntilReset, windowStartSeconds } from "./fixed-window.js";

/** Applies `op` to a counter at `before` with the op's algorithm; pure. */
export function applyStep(before: number, op: CounterOp): Verdict {
  switch (op.algorithm) {
    case "fixed_window":
      return fixedWindowStep(before, op);
  }
}
