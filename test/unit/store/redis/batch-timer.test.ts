import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../../../src/domain/errors.js";
import { Problems } from "../../../../src/settings/problems.js";
import { parseRedisSettings } from "../../../../src/settings/redis-settings.js";
import { createBatchTimer, PENDING, type TimedBatch } from "../../../../src/store/redis/batch-timer.js";
import { createLogSink } from "../../../helpers/log-sink.js";

const T = 40;

interface TestBatch extends TimedBatch {
  failedAt?: number;
}

function setup() {
  const p = new Problems();
  const settings = parseRedisSettings(
    { REDIS_SOCKET_TYPE: "tcp", REDIS_URL: "127.0.0.1:1", REDIS_TIMEOUT: `${T}ms` },
    p,
  );
  p.throwIfAny();
  const sink = createLogSink("debug");
  const timer = createBatchTimer<TestBatch>(settings.main, sink.logger, (batch, err) => {
    expect(err).toBeInstanceOf(StoreUnavailableError);
    batch.failedAt = performance.now();
  });
  return { timer, lines: sink.lines };
}

function batch(): TestBatch {
  return { state: PENDING, sentAt: 0, firedAt: 0, rearmed: false, timer: undefined };
}

/** Keeps the event loop busy, as a GC pause or a long loop turn would. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // blocked
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("createBatchTimer()", () => {
  it("fails an unanswered batch after the timeout, then refuses new calls only until it is answered", async () => {
    const { timer, lines } = setup();
    const b = batch();
    timer.arm(b);
    // Polled rather than slept: on a busy machine the timer's own check can come late, and the timer then (by
    // design) grants one more period, so a fixed upper bound on the failure time would test the machine's load.
    for (let waited = 0; b.failedAt === undefined && waited < 5_000; waited += T) await sleep(T);
    expect((b.failedAt as number) - b.sentAt).toBeGreaterThanOrEqual(T - 1);
    expect(lines.some((l) => l.msg === "redis batch timed out")).toBe(true);
    expect(timer.stallRefusal()).toBeInstanceOf(StoreUnavailableError);
    expect(timer.answered(b)).toBe(true);
    expect(timer.stallRefusal()).toBeUndefined();
  });

  it("leaves a batch answered in time alone", async () => {
    const { timer } = setup();
    const b = batch();
    timer.arm(b);
    await sleep(T / 4);
    expect(timer.answered(b)).toBe(false);
    await sleep(T * 2);
    expect(b.failedAt).toBeUndefined();
    expect(timer.stallRefusal()).toBeUndefined();
  });

  it("gives one more period when the check comes late because the loop was busy", async () => {
    const { timer } = setup();
    const answered = batch();
    timer.arm(answered);
    busy(2 * T);
    await sleep(T / 2);
    expect(answered.failedAt).toBeUndefined();
    expect(timer.answered(answered)).toBe(false);

    const silent = batch();
    timer.arm(silent);
    busy(2 * T);
    await sleep(T * 2);
    // Failed after the extra period, not at the first (late) check.
    expect((silent.failedAt as number) - silent.sentAt).toBeGreaterThanOrEqual(3 * T - 1);
  });

  it("gives one more period when Redis answered an earlier batch after this one's deadline", async () => {
    const { timer } = setup();
    const earlier = batch();
    const next = batch();
    timer.arm(earlier);
    timer.arm(next);
    busy(T + 2);
    timer.answered(earlier); // Redis is working through the pipeline; `next` is behind it
    await sleep(T / 2);
    expect(next.failedAt).toBeUndefined();
    expect(timer.answered(next)).toBe(false);
  });
});
