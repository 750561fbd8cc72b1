import type { Clock } from "../../src/domain/ports.js";

/** A Clock the test moves by hand. Starts at a fixed, window-aligned instant unless told otherwise. */
export class FakeClock implements Clock {
  constructor(private ms = 1_700_000_040_000) {}
  nowMs(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
