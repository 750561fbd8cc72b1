/**
 * The limits contract: every algorithm, several limits per descriptor, budgets and refunds, with the same answers
 * on every CounterStore (memory, memory behind the local cache, Redis single and Cluster). Stamped out next to the
 * counter contract by each store's test file:
 *
 *   describeLimits("memory", (clock) => createMemoryStore({ clock }));
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { CounterStore } from "../../src/domain/ports.js";
import type { CounterOp, Outcome } from "../../src/domain/types.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import type { TestLimitSpec } from "../helpers/limits.js";
import { makeLimitOp, makeSuiteClock } from "./counter-store.contract.js";

const TB: TestLimitSpec = { algorithm: "token_bucket", requestsPerUnit: 60, unit: "minute", burst: 5 };

export function describeLimits<S extends CounterStore>(name: string, makeStore: (clock: FakeClock) => Promise<S> | S) {
  describe(`limits contract: ${name}`, () => {
    const prefix = `sluice_limits_${randomBytes(6).toString("hex")}_`;
    let testNo = 0;
    const open: S[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    async function setup() {
      const clock = makeSuiteClock();
      const store = await makeStore(clock);
      open.push(store);
      const base = `${prefix}${++testNo}_`;
      /** Applies one descriptor's limits (a group when several) and returns their outcomes. */
      const hit = async (label: string, hits: number, specs: readonly TestLimitSpec[], negative = false) => {
        const ops: CounterOp[] = specs.map((spec, j) =>
          makeLimitOp(
            clock,
            `${base}${label}`,
            hits,
            { ...spec, inList: specs.length > 1 || spec.inList === true },
            {
              negative,
              group: j === 0 ? specs.length : 0,
            },
          ),
        );
        return store.apply(ops);
      };
      const one = async (label: string, hits: number, spec: TestLimitSpec, negative = false) =>
        (await hit(label, hits, [spec], negative))[0] as Outcome;
      return { store, clock, hit, one };
    }

    it("token bucket: exactly burst pass at once, then one more per window / rpu; rejections consume nothing", async () => {
      const { clock, one } = await setup();
      const admitted: boolean[] = [];
      for (let i = 0; i < 7; i++) admitted.push((await one("tb", 1, TB)).admitted);
      expect(admitted).toEqual([true, true, true, true, true, false, false]);
      const rejected = await one("tb", 1, TB);
      expect(rejected).toMatchObject({ admitted: false, remaining: 0, retryAfterMs: 1000, consumed: 0 });
      clock.advance(999);
      expect(await one("tb", 1, TB)).toMatchObject({ admitted: false, retryAfterMs: 1 });
      clock.advance(1);
      expect(await one("tb", 1, TB)).toMatchObject({ admitted: true, remaining: 0, consumed: 1, resetAfterMs: 5000 });
      clock.advance(5000);
      expect(await one("tb", 0, TB)).toMatchObject({ admitted: true, remaining: 5, resetAfterMs: 0 });
    });

    it("token bucket: a cost passes only when that many tokens are there; a check needs one", async () => {
      const { one } = await setup();
      expect(await one("cost", 3, TB)).toMatchObject({ admitted: true, remaining: 2, consumed: 3 });
      expect(await one("cost", 3, TB)).toMatchObject({ admitted: false, remaining: 2, retryAfterMs: 1000 });
      expect(await one("cost", 2, TB)).toMatchObject({ admitted: true, remaining: 0 });
      expect(await one("cost", 0, TB)).toMatchObject({ admitted: false, consumed: 0, retryAfterMs: 1000 });
      // A cost above the burst never passes; it is told the time to a full bucket.
      expect(await one("big", 6, TB)).toMatchObject({ admitted: false, remaining: 5, consumed: 0 });
    });

    it("leaky bucket is the same meter", async () => {
      const { one } = await setup();
      const spec = { ...TB, algorithm: "leaky_bucket" };
      const admitted: boolean[] = [];
      for (let i = 0; i < 6; i++) admitted.push((await one("lb", 1, spec)).admitted);
      expect(admitted).toEqual([true, true, true, true, true, false]);
    });

    it("refunds give capacity back, never above a full bucket or below zero used", async () => {
      const { one } = await setup();
      for (let i = 0; i < 5; i++) await one("r", 1, TB);
      expect(await one("r", 2, TB, true)).toMatchObject({ admitted: true, remaining: 2 });
      expect(await one("r", 2, TB)).toMatchObject({ admitted: true, remaining: 0 });
      expect(await one("fresh", 10, TB, true)).toMatchObject({ remaining: 5 });
      const sw = { algorithm: "sliding_window", requestsPerUnit: 4, unit: "minute" } as const;
      await one("swr", 4, sw);
      expect(await one("swr", 3, sw, true)).toMatchObject({ remaining: 3 });
      expect(await one("swr", 9, sw, true)).toMatchObject({ remaining: 4 });
    });

    it("sliding window: the previous window counts by the part of it still inside", async () => {
      const { clock, one } = await setup();
      const sw: TestLimitSpec = { algorithm: "sliding_window", requestsPerUnit: 10, unit: "minute" };
      for (let i = 0; i < 10; i++) expect((await one("sw", 1, sw)).admitted).toBe(true);
      expect(await one("sw", 1, sw)).toMatchObject({ admitted: false, consumed: 0, retryAfterMs: 66_000 });
      clock.advance(60_000); // next window: the last one still weighs in full
      expect(await one("sw", 1, sw)).toMatchObject({ admitted: false, retryAfterMs: 6_000 });
      clock.advance(30_000); // half of it is left: 5 more fit
      const admitted: boolean[] = [];
      for (let i = 0; i < 6; i++) admitted.push((await one("sw", 1, sw)).admitted);
      expect(admitted).toEqual([true, true, true, true, true, false]);
      expect(await one("sw", 0, sw)).toMatchObject({ admitted: false, remaining: 0, resetAfterMs: 90_000 });
    });

    it("fixed window anchored at the first hit: counts always, resets one window after the first hit", async () => {
      const { clock, one } = await setup();
      const fh: TestLimitSpec = { requestsPerUnit: 3, unit: "minute", unitMultiplier: 30, windowAnchor: "first_hit" };
      clock.advance(10_000);
      for (let i = 0; i < 3; i++) expect((await one("fh", 1, fh)).admitted).toBe(true);
      expect(await one("fh", 1, fh)).toMatchObject({ admitted: false, consumed: 1, used: 4, retryAfterMs: 1_800_000 });
      clock.advance(1_799_999);
      expect(await one("fh", 0, fh)).toMatchObject({ admitted: false, retryAfterMs: 1 });
      clock.advance(1);
      expect(await one("fh", 1, fh)).toMatchObject({ admitted: true, used: 1, resetAfterMs: 1_800_000 });
    });

    it("unit_multiplier: a 5-minute fixed window aligned to the epoch", async () => {
      const { clock, one } = await setup();
      const five: TestLimitSpec = { requestsPerUnit: 2, unit: "minute", unitMultiplier: 5 };
      const start = Math.floor(clock.nowMs() / 300_000) * 300_000;
      clock.set(start + 299_000);
      expect(await one("m5", 2, five)).toMatchObject({ admitted: true, resetAfterMs: 1_000 });
      expect(await one("m5", 1, five)).toMatchObject({ admitted: false, retryAfterMs: 1_000 });
      clock.advance(1_000);
      expect(await one("m5", 1, five)).toMatchObject({ admitted: true, used: 1, resetAfterMs: 300_000 });
    });

    it("several limits on one descriptor are all-or-nothing", async () => {
      const { clock, hit } = await setup();
      const limits: TestLimitSpec[] = [
        { requestsPerUnit: 2, unit: "second" },
        { requestsPerUnit: 5, unit: "minute" },
      ];
      clock.advance(1_000);
      for (let i = 0; i < 2; i++) expect((await hit("g", 1, limits)).every((o) => o.admitted)).toBe(true);
      const third = await hit("g", 1, limits);
      expect(third.map((o) => o.admitted)).toEqual([false, true]);
      expect(third.map((o) => o.consumed)).toEqual([0, 0]); // the minute limit did not count it
      expect(third[1]?.remaining).toBe(3);
      clock.advance(1_000);
      for (let i = 0; i < 2; i++) expect((await hit("g", 1, limits)).every((o) => o.admitted)).toBe(true);
      clock.advance(1_000);
      expect((await hit("g", 1, limits)).every((o) => o.admitted)).toBe(true);
      const over = await hit("g", 1, limits);
      expect(over.map((o) => o.admitted)).toEqual([true, false]);
      expect(over[1]?.retryAfterMs).toBe(57_000);
    });

    it("mixes algorithms in one group: a bucket rejects, the sliding window is not charged", async () => {
      const { hit } = await setup();
      const limits: TestLimitSpec[] = [
        { algorithm: "token_bucket", requestsPerUnit: 1, unit: "second", burst: 2 },
        { algorithm: "sliding_window", requestsPerUnit: 100, unit: "hour" },
      ];
      expect((await hit("mix", 1, limits)).map((o) => o.admitted)).toEqual([true, true]);
      expect((await hit("mix", 1, limits)).map((o) => o.admitted)).toEqual([true, true]);
      const third = await hit("mix", 1, limits);
      expect(third.map((o) => o.admitted)).toEqual([false, true]);
      expect(third[1]?.remaining).toBe(98);
    });

    it("budget: every charge counts, into debt; a check passes only while a unit is left", async () => {
      const { one } = await setup();
      const cents: TestLimitSpec = { requestsPerUnit: 500, unit: "hour", budget: true, windowAnchor: "first_hit" };
      expect(await one("b", 0, cents)).toMatchObject({ admitted: true, remaining: 500 });
      expect(await one("b", 450, cents)).toMatchObject({ admitted: true, remaining: 50, consumed: 450 });
      expect(await one("b", 0, cents)).toMatchObject({ admitted: true });
      expect(await one("b", 100, cents)).toMatchObject({ admitted: false, remaining: 0, consumed: 100, used: 550 });
      expect(await one("b", 0, cents)).toMatchObject({ admitted: false, consumed: 0 });
    });

    it("budget on a token bucket: debt is refilled at the bucket's rate", async () => {
      const { clock, one } = await setup();
      const spend: TestLimitSpec = { algorithm: "token_bucket", requestsPerUnit: 10, unit: "second", budget: true };
      expect(await one("tbb", 25, spend)).toMatchObject({ admitted: false, consumed: 25, remaining: 0 });
      expect(await one("tbb", 0, spend)).toMatchObject({ admitted: false, retryAfterMs: 1_600 });
      clock.advance(1_600);
      expect(await one("tbb", 0, spend)).toMatchObject({ admitted: true, remaining: 1 });
    });

    it("budget groups charge every limit even when one is exhausted", async () => {
      // (the local over-limit cache never answers budgets: their charges must always reach the store)
      const { hit } = await setup();
      const limits: TestLimitSpec[] = [
        { requestsPerUnit: 500, unit: "hour", budget: true, name: "session" },
        { requestsPerUnit: 5000, unit: "hour", budget: true, name: "hourly" },
      ];
      expect((await hit("bg", 600, limits)).map((o) => [o.admitted, o.consumed])).toEqual([
        [false, 600],
        [true, 600],
      ]);
      expect((await hit("bg", 0, limits)).map((o) => o.admitted)).toEqual([false, true]);
    });
  });
}
