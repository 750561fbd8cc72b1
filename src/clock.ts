/** The production Clock: wall time from Date.now(). Tests inject test/helpers/fake-clock.ts instead. */
import type { Clock } from "./domain/ports.js";

/** Returns the system wall clock. Windows are epoch-aligned, so this must be wall time, not a monotonic timer. */
export function createSystemClock(): Clock {
  return { nowMs: () => Date.now() };
}
