/**
 * A latency histogram recorded on the hot path without allocation: one bucket increment, a sum and a count in a
 * Float64Array. Prometheus reads it at scrape time (prometheus.ts). prom-client's own `Histogram.observe` builds a
 * label hash string and a wrapper object per call (about 350 ns here, twice per request), which is what this avoids.
 */

export interface LatencyRecorder {
  /** Upper bounds in milliseconds, ascending; a last implicit bucket is +Inf. */
  readonly boundsMs: readonly number[];
  /** Per-bucket counts (not cumulative), then +Inf, then the sum (ms), then the count. */
  readonly data: Float64Array;
  record(ms: number): void;
}

/** Decision and store latencies: 0.1 ms to 10 s (statsd_exporter's default buckets, plus sub-millisecond ones). */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

export function createLatencyRecorder(boundsMs: readonly number[] = LATENCY_BOUNDS_MS): LatencyRecorder {
  const n = boundsMs.length;
  const data = new Float64Array(n + 3);
  return {
    boundsMs,
    data,
    record(ms: number): void {
      let i = 0;
      while (i < n && ms > (boundsMs[i] as number)) i++;
      (data[i] as number)++;
      data[n + 1] = (data[n + 1] as number) + ms;
      (data[n + 2] as number)++;
    },
  };
}
