/**
 * The CounterStore contract: one suite every store must pass (memory now, Redis in its own integration test).
 *
 *   describeCounterStore("memory", (clock) => createMemoryStore({ clock }), { countKeys: (s) => s.size });
 *
 * Store-agnostic on purpose: every key is built here with a per-suite random prefix (so a shared Redis needs no
 * flush), and the FakeClock starts at a whole minute in the real future, away from hour and day ends (makeSuiteClock).
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { CounterStore } from "../../src/domain/ports.js";
import type { CounterOp, Outcome, Unit } from "../../src/domain/types.js";
import { MAX_HITS, UNIT_SECONDS } from "../../src/domain/types.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { type TestLimitSpec, testLimit } from "../helpers/limits.js";

export interface CounterStoreSuiteOptions<S extends CounterStore> {
  /**
   * Counts the keys the store holds that start with `prefix` (Redis: SCAN MATCH prefix*; memory: `size`). When
   * given, the suite checks that reads and refunds create nothing.
   */
  readonly countKeys?: (store: S, prefix: string) => Promise<number> | number;
}

/**
 * A FakeClock at 12:30:00 UTC of the next day. Always in the real future, so a backend that turned `expiresAtMs` into
 * a real TTL would keep every key alive during the test; and far from the end of an hour or a day, so that no test's
 * minute, hour and day windows end together by chance. (The clock used to start at the current real minute, and a test
 * that counts in both minute and hour windows failed when CI ran in the last minute of an hour.)
 */
export function makeSuiteClock(): FakeClock {
  const day = 86_400_000;
  return new FakeClock((Math.floor(Date.now() / day) + 1) * day + 12.5 * 3_600_000);
}

/** Builds a fixed-window op the way the engine does, for `key` in the clock's current window. */
export function makeOp(
  clock: FakeClock,
  key: string,
  hits: number,
  extra: { readonly negative?: boolean; readonly unit?: Unit; readonly limit?: number } = {},
): CounterOp {
  const unit = extra.unit ?? "minute";
  const windowSeconds = UNIT_SECONDS[unit];
  const nowSeconds = Math.floor(clock.nowMs() / 1000);
  const start = nowSeconds - (nowSeconds % windowSeconds);
  return {
    key: `${key}_${start}`,
    hits,
    negative: extra.negative ?? false,
    limit: testLimit({ requestsPerUnit: extra.limit ?? 2 ** 52, unit }),
    nowMs: clock.nowMs(),
    windowStartSeconds: start,
    group: 1,
  };
}

/**
 * An op of any limit, as the engine builds it: `key` is the descriptor part; the limit's tag (and for the
 * reference's fixed window, the window start) is appended as plan.ts does. `group` marks a group's first op.
 */
export function makeLimitOp(
  clock: FakeClock,
  key: string,
  hits: number,
  spec: TestLimitSpec,
  extra: { readonly negative?: boolean; readonly group?: number } = {},
): CounterOp {
  const limit = testLimit(spec);
  const nowSeconds = Math.floor(clock.nowMs() / 1000);
  const start = nowSeconds - (nowSeconds % limit.windowSeconds);
  return {
    key: limit.keyTag === "" ? `${key}_${start}` : `{${key}}${limit.keyTag}`,
    hits,
    negative: extra.negative ?? false,
    limit,
    nowMs: clock.nowMs(),
    windowStartSeconds: start,
    group: extra.group ?? 1,
  };
}

/** The counter after each op (a fixed window's `used`). */
function afters(outcomes: readonly Outcome[]): number[] {
  return outcomes.map((o) => o.used);
}

/** `[counter before, counter after]` of fixed-window counting ops. */
function counts(o: Outcome): [number, number] {
  return [o.used - o.consumed, o.used];
}

export function describeCounterStore<S extends CounterStore>(
  name: string,
  makeStore: (clock: FakeClock) => Promise<S> | S,
  opts: CounterStoreSuiteOptions<S> = {},
): void {
  describe(`CounterStore contract: ${name}`, () => {
    const prefix = `sluice_contract_${randomBytes(6).toString("hex")}_`;
    let testNo = 0;
    const open: S[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    async function setup(): Promise<{ store: S; clock: FakeClock; key: (label: string) => string }> {
      const clock = makeSuiteClock();
      const store = await makeStore(clock);
      open.push(store);
      const base = `${prefix}${++testNo}_`;
      return { store, clock, key: (label) => `${base}${label}` };
    }

    it("counts hits per key and reports the count before and after", async () => {
      const { store, clock, key } = await setup();
      expect((await store.apply([makeOp(clock, key("a"), 1)])).map(counts)).toEqual([[0, 1]]);
      expect((await store.apply([makeOp(clock, key("a"), 3)])).map(counts)).toEqual([[1, 4]]);
      expect(afters(await store.apply([makeOp(clock, key("b"), 2)]))).toEqual([2]);
    });

    it("reads without counting when hits is 0", async () => {
      const { store, clock, key } = await setup();
      expect((await store.apply([makeOp(clock, key("r"), 0)])).map(counts)).toEqual([[0, 0]]);
      if (opts.countKeys) expect(await opts.countKeys(store, prefix)).toBe(0);
      await store.apply([makeOp(clock, key("r"), 2)]);
      expect(afters(await store.apply([makeOp(clock, key("r"), 0)]))).toEqual([2]);
      expect(afters(await store.apply([makeOp(clock, key("r"), 1)]))).toEqual([3]);
    });

    it("applies a batch in order, counting a key that appears twice sequentially", async () => {
      const { store, clock, key } = await setup();
      const outcomes = await store.apply([
        makeOp(clock, key("x"), 1),
        makeOp(clock, key("y"), 5),
        makeOp(clock, key("x"), 2),
        makeOp(clock, key("y"), 0),
      ]);
      expect(outcomes.map(counts)).toEqual([
        [0, 1],
        [0, 5],
        [1, 3],
        [5, 5],
      ]);
    });

    it("answers an empty batch with no outcomes", async () => {
      const { store } = await setup();
      expect(await store.apply([])).toEqual([]);
    });

    it("starts a new counter in the next window", async () => {
      const { store, clock, key } = await setup();
      const first = makeOp(clock, key("w"), 4);
      expect(afters(await store.apply([first]))).toEqual([4]);
      clock.advance(60_000);
      const next = makeOp(clock, key("w"), 1);
      expect(next.key).not.toBe(first.key);
      expect(afters(await store.apply([next]))).toEqual([1]);
    });

    it("keeps counters of different units apart", async () => {
      const { store, clock, key } = await setup();
      clock.advance(7_000); // inside the minute, so second and minute windows start at different seconds
      await store.apply([makeOp(clock, key("u"), 3, { unit: "minute" })]);
      expect(afters(await store.apply([makeOp(clock, key("u"), 1, { unit: "second" })]))).toEqual([1]);
      expect(afters(await store.apply([makeOp(clock, key("u"), 1, { unit: "minute" })]))).toEqual([4]);
    });

    it("stays exact under 1,000 concurrent calls on one key", async () => {
      const { store, clock, key } = await setup();
      const op = makeOp(clock, key("hot"), 1);
      const results = await Promise.all(Array.from({ length: 1000 }, () => store.apply([op])));
      const after = results.map((r) => (r[0] as Outcome).used).sort((a, b) => a - b);
      expect(after).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      for (const r of results) expect((r[0] as Outcome).consumed).toBe(1);
    });

    it("counts huge hits exactly, beyond 2^32", async () => {
      const { store, clock, key } = await setup();
      expect(afters(await store.apply([makeOp(clock, key("big"), MAX_HITS)]))).toEqual([MAX_HITS]);
      expect(afters(await store.apply([makeOp(clock, key("big"), MAX_HITS)]))).toEqual([2 * MAX_HITS]);
      expect(afters(await store.apply([makeOp(clock, key("big"), 1)]))).toEqual([2 * MAX_HITS + 1]);
      const wrap = makeOp(clock, key("wrap"), 2 ** 32 - 1);
      await store.apply([wrap]);
      expect(afters(await store.apply([makeOp(clock, key("wrap"), 2)]))).toEqual([2 ** 32 + 1]);
    });

    it("subtracts negative hits, flooring the counter at 0", async () => {
      const { store, clock, key } = await setup();
      await store.apply([makeOp(clock, key("n"), 5)]);
      expect(afters(await store.apply([makeOp(clock, key("n"), 3, { negative: true })]))).toEqual([2]);
      expect(afters(await store.apply([makeOp(clock, key("n"), 10, { negative: true })]))).toEqual([0]);
      expect(afters(await store.apply([makeOp(clock, key("n"), 1)]))).toEqual([1]);
      expect(afters(await store.apply([makeOp(clock, key("none"), 4, { negative: true })]))).toEqual([0]);
      if (opts.countKeys) expect(await opts.countKeys(store, prefix)).toBe(1);
    });

    it("closes idempotently", async () => {
      const { store } = await setup();
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
}
