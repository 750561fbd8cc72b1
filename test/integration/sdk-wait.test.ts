/**
 * waitUntilAllowed against a real Sluice, with an injected clock (virtual time, recorded sleeps) so nothing waits on
 * the wall clock: each limited attempt sleeps the retry time Sluice reported plus jitter (never less than
 * minRetryMs), the number of attempts is exactly sleeps + 1 (checked against Sluice's own hit counter, so it never
 * spins), it gives up at once when the next attempt would fall after maxWaitMs, and an abort ends it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type RateLimitResult, type SluiceClient, SluiceError, type WaitClock } from "../../src/index.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";

const RULES = `domain: wait
descriptors:
  - key: provider
    rate_limit: { unit: day, requests_per_unit: 1 }
`;

/** Virtual time: sleep() advances it and records the wait; `onSleep` runs inside each sleep. */
function fakeClock(random: number, onSleep: (n: number) => Promise<void> = async () => {}) {
  const sleeps: number[] = [];
  let now = 1_000_000;
  const clock: WaitClock = {
    now: () => now,
    random: () => random,
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
      await onSleep(sleeps.length);
    },
  };
  return { clock, sleeps };
}

let sluice: RunningSluice;
let plain: SluiceClient;
beforeAll(async () => {
  sluice = await startSluice({ rules: { "config.yaml": RULES } });
  plain = createClient({ address: sluice.grpc, timeoutMs: 5_000 });
}, 60_000);
afterAll(async () => {
  plain?.close();
  await sluice?.stop();
});

/** Hits Sluice counted on the `provider` key (every value), so tests compare before and after. */
async function providerHits(): Promise<number> {
  return (await sluice.stats()).get("ratelimit.service.rate_limit.wait.provider.total_hits") ?? 0;
}

describe("waitUntilAllowed", () => {
  it("sleeps the reported retry (plus jitter) between attempts and resolves once allowed", async () => {
    const quota = [{ provider: "replicate" }];
    expect((await plain.shouldRateLimit("wait", quota)).allowed).toBe(true); // the day's one call is used
    // On the 2nd sleep every hit is given back (limited attempts count too), as if the day had turned.
    const { clock, sleeps } = fakeClock(0.5, async (n) => {
      if (n === 2) await plain.refund("wait", quota, 100);
    });
    const client = createClient({ address: sluice.grpc, timeoutMs: 5_000, clock, jitter: 0.2, minRetryMs: 100 });
    const retried: [RateLimitResult, number][] = [];
    const before = await providerHits();
    try {
      const r = await client.waitUntilAllowed("wait", quota, {
        maxWaitMs: 3 * 86_400_000,
        onRetry: (res, ms) => retried.push([res, ms]),
      });
      expect(r.allowed).toBe(true);
    } finally {
      client.close();
    }
    expect(sleeps).toHaveLength(2);
    expect(retried).toHaveLength(2);
    for (const [i, [res, ms]] of retried.entries()) {
      expect(res.allowed).toBe(false);
      expect(res.retryAfterMs).toBeGreaterThan(0);
      expect(ms).toBe(Math.ceil(Math.max(res.retryAfterMs ?? 0, 100) * 1.1));
      expect(sleeps[i]).toBe(ms);
    }
    // Three attempts (limited, limited, allowed) reached Sluice, no more; the refund is not a hit.
    expect((await providerHits()) - before).toBe(3);
  });

  it("gives up with WAIT_TIMEOUT, without sleeping, when the retry is past maxWaitMs", async () => {
    const quota = [{ provider: "fal" }];
    await plain.shouldRateLimit("wait", quota);
    const { clock, sleeps } = fakeClock(0);
    const client = createClient({ address: sluice.grpc, timeoutMs: 5_000, clock });
    try {
      const limited = await plain.check("wait", quota, {});
      const maxWaitMs = 100;
      const err = await client.waitUntilAllowed("wait", quota, { maxWaitMs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SluiceError);
      expect((err as SluiceError).code).toBe("WAIT_TIMEOUT");
      expect(limited.resetAfterMs).toBeGreaterThan(maxWaitMs); // a day window: the retry is far off
    } finally {
      client.close();
    }
    expect(sleeps).toEqual([]);
  });

  it("rejects with the abort reason when the signal aborts while it waits (real sleep)", async () => {
    const quota = [{ provider: "google-cloud" }];
    await plain.shouldRateLimit("wait", quota);
    const client = createClient({ address: sluice.grpc, timeoutMs: 5_000 });
    const controller = new AbortController();
    try {
      const waiting = client.waitUntilAllowed("wait", quota, {
        maxWaitMs: 3 * 86_400_000,
        signal: controller.signal,
        onRetry: () => setImmediate(() => controller.abort(new Error("shutting down"))),
      });
      await expect(waiting).rejects.toThrow("shutting down");
    } finally {
      client.close();
    }
  });
});
