/**
 * Property: for random sequences of hits (costs, refunds, checks, several limits on one descriptor, budgets) on a
 * fake clock, the memory store and the Redis store give identical outcomes. The TypeScript step functions are the
 * specification; this proves the Lua mirror and the INCRBY fast path follow them exactly, including when concurrent
 * copies of a request land in one flush (coalesced INCRBYs and script runs).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CounterOp, Outcome } from "../../src/domain/types.js";
import { createMemoryStore } from "../../src/store/memory-store.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { makeLimitOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import type { TestLimitSpec } from "../helpers/limits.js";
import { createLogSink } from "../helpers/log-sink.js";
import { createRedisFarm, type RedisServer, redisSettingsFrom, waitConnected } from "../helpers/redis-servers.js";

const farm = createRedisFarm();
let server: RedisServer;

beforeAll(async () => {
  server = await farm.start();
});
afterAll(() => farm.stopAll());

async function redisStore(clock: FakeClock): Promise<RedisCounterStore> {
  const settings = redisSettingsFrom({ REDIS_SOCKET_TYPE: "tcp", REDIS_URL: server.address, REDIS_TIMEOUT: "2s" });
  const store = createRedisStore({
    endpoint: settings.main,
    clock,
    logger: createLogSink("warn").logger,
    expirationJitterMaxSeconds: 0,
  });
  await waitConnected(store);
  return store;
}

/** Descriptors to draw from: each a list of limits (a group when several). */
const DESCRIPTORS: readonly (readonly TestLimitSpec[])[] = [
  [{ requestsPerUnit: 5, unit: "second" }],
  [{ algorithm: "token_bucket", requestsPerUnit: 3, unit: "second", burst: 4 }],
  [{ algorithm: "leaky_bucket", requestsPerUnit: 7, unit: "minute", burst: 2 }],
  [{ algorithm: "sliding_window", requestsPerUnit: 6, unit: "second" }],
  [{ requestsPerUnit: 4, unit: "second", unitMultiplier: 3, windowAnchor: "first_hit" }],
  [
    { requestsPerUnit: 3, unit: "second" },
    { algorithm: "sliding_window", requestsPerUnit: 8, unit: "minute" },
    { algorithm: "token_bucket", requestsPerUnit: 2, unit: "second", burst: 5 },
  ],
  [{ requestsPerUnit: 10, unit: "second", budget: true }],
  [
    { algorithm: "token_bucket", requestsPerUnit: 5, unit: "second", budget: true },
    { requestsPerUnit: 20, unit: "minute", budget: true, windowAnchor: "first_hit", unitMultiplier: 1 },
  ],
];

const step = fc.record({
  descriptor: fc.nat({ max: DESCRIPTORS.length - 1 }),
  key: fc.nat({ max: 2 }),
  hits: fc.oneof(fc.constant(0), fc.constant(1), fc.nat({ max: 6 })),
  negative: fc.nat({ max: 9 }).map((n) => n < 3),
  advanceMs: fc.oneof(fc.constant(0), fc.nat({ max: 400 }), fc.nat({ max: 3000 })),
  batch: fc.nat({ max: 2 }),
  // Copies of the request sent concurrently: one Redis flush, where identical lone ops on a key share a script run.
  copies: fc.nat({ max: 3 }),
});

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function opsOf(clock: FakeClock, run: string, s: Step): CounterOp[] {
  const limits = DESCRIPTORS[s.descriptor] as readonly TestLimitSpec[];
  const label = `${run}_d${s.descriptor}_k${s.key}`;
  return limits.map((spec, j) =>
    makeLimitOp(
      clock,
      label,
      s.hits,
      { ...spec, inList: limits.length > 1 },
      {
        negative: s.negative && s.hits > 0,
        group: j === 0 ? limits.length : 0,
      },
    ),
  );
}

describe("memory and Redis stores", () => {
  it("give identical outcomes for random hit sequences", async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const run = `prop${Date.now()}_${++runNo}`;
        const clock = makeSuiteClock();
        const memory = createMemoryStore({ clock });
        const redis = await redisStore(clock);
        try {
          for (let i = 0; i < steps.length; ) {
            const s = steps[i] as Step;
            clock.advance(s.advanceMs);
            // Several descriptors in one call (one request), as the engine sends them.
            const ops: CounterOp[] = [];
            const end = Math.min(steps.length, i + 1 + s.batch);
            for (let j = i; j < end; j++) ops.push(...opsOf(clock, run, steps[j] as Step));
            i = end;
            const fromMemory: (readonly Outcome[])[] = [];
            for (let c = 0; c <= s.copies; c++) fromMemory.push(await memory.apply(ops));
            const fromRedis = await Promise.all(fromMemory.map(() => redis.apply(ops)));
            expect(fromRedis).toEqual(fromMemory);
          }
        } finally {
          await redis.close();
          await memory.close();
        }
      }),
      { numRuns: 60, seed: 20261204 },
    );
  });
});
