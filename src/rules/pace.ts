/**
 * How main-thread work on a rule load shares the event loop with calls: run for about `sliceMs`, then give the loop
 * back for `gapMs` (0: one turn, setImmediate) before the next slice.
 *
 * At startup nothing is served yet, so a load runs flat out (STARTUP_PACE). A reload runs beside calls, and what hurts
 * their p99 is not the slices themselves but the garbage collection they cause: a compile allocates the new rule set
 * (tens of MB for 50,000 rules), and every scavenge during it copies whatever of that has survived so far. Done flat
 * out, 50,000 rules meant back-to-back scavenges of 5 to 22 ms and three mark-compacts within one second, and most
 * calls in that second took more than 5 ms (bench/reload-stall.mjs --rate, issue 12). At a quarter of the loop
 * (SERVING_PACE) the same work is spread over about four times as long, so the scavenges the calls cause anyway find
 * less of it to copy each time. Measured together with the chunk-by-chunk compile (compile.ts compileStreamInSlices),
 * a 50,000-rule reload at 5,000 calls/s left 8-10 % of calls over 5 ms instead of 14-21 % (BENCHMARKS.md).
 */
export interface Pace {
  readonly sliceMs: number;
  readonly gapMs: number;
  /**
   * Rules per message from the parse worker (reload/parse-off-loop.ts): receiving one costs the main thread a
   * structured clone of about 8 µs per rule, so this is the slice for that step.
   */
  readonly chunkRules: number;
}

export const STARTUP_PACE: Pace = Object.freeze({ sliceMs: 5, gapMs: 0, chunkRules: 1_000 });
export const SERVING_PACE: Pace = Object.freeze({ sliceMs: 2, gapMs: 6, chunkRules: 250 });

/** Gives the event loop back as `pace` says, between two slices. */
export function pauseBetweenSlices(pace: Pace): Promise<void> {
  return new Promise<void>((resolve) => {
    if (pace.gapMs > 0) setTimeout(resolve, pace.gapMs);
    else setImmediate(resolve);
  });
}
