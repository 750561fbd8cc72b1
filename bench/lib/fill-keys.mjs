/**
 * Puts many distinct keys into a running service: one call per frame, in order, `inFlight` outstanding, until every
 * frame was answered once (a few may get a second). Used to measure the service with a large live key set
 * (memory-service.mjs, reload-stall.mjs --fill).
 */
import { createLoadRunner, EXPECT } from "./load-generator.mjs";

/** The `i`-th distinct client IP (10.0.0.0/8), the key the fill calls carry. */
export const clientIp = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/**
 * @param {number} port the service's gRPC port
 * @param {Uint8Array[]} frames one request frame per key, each expected to answer OK
 * @returns {Promise<{ calls: number, errors: number, problems: unknown[] }>}
 */
export async function fillKeys(port, frames) {
  const runner = await createLoadRunner({
    port,
    frames,
    expect: new Uint8Array(frames.length).fill(EXPECT.OK),
    allowOk: 0,
    statuses: 1,
    connections: 4,
    inFlight: 64,
    startAt: 0,
  });
  // Slices sized from the measured rate, so the pass ends close to one call per key.
  let done = 0;
  let rate = 0;
  while (done < frames.length) {
    const ms = rate === 0 ? 500 : Math.min(2_000, Math.max(20, ((frames.length - done) / rate) * 1000));
    const slice = await runner.runSlice(ms);
    done = (await runner.totals()).verified; // every answered call, drained ones included
    rate = slice.rps;
  }
  const totals = await runner.totals();
  await runner.close();
  return { calls: done, errors: totals.errors, problems: totals.problems.slice(0, 3) };
}
