import { describe, expect, it } from "vitest";
import type { CounterStore } from "../../../src/domain/ports.js";
import type { Outcome } from "../../../src/domain/types.js";
import { createOverLimitCache, ENTRY_OVERHEAD_BYTES } from "../../../src/store/local-cache.js";
import { createMemoryStore, type MemoryStore } from "../../../src/store/memory-store.js";
import { describeCounterStore, makeOp, makeSuiteClock } from "../../contract/counter-store.contract.js";
import { describeLimits } from "../../contract/limits.contract.js";
import type { FakeClock } from "../../helpers/fake-clock.js";

// Large limits: the contract ops never go over, so the cache stays transparent.
describeCounterStore("memory behind the over-limit cache", (clock) =>
  createOverLimitCache(createMemoryStore({ clock }), { clock, maxBytes: 1 << 20 }),
);

describeLimits("memory behind the over-limit cache", (clock) =>
  createOverLimitCache(createMemoryStore({ clock }), { clock, maxBytes: 1 << 20 }),
);

describe("createOverLimitCache()", () => {
  function setup(maxBytes = 1 << 20): { clock: FakeClock; inner: MemoryStore; cache: CounterStore } {
    const clock = makeSuiteClock();
    const inner = createMemoryStore({ clock });
    return { clock, inner, cache: createOverLimitCache(inner, { clock, maxBytes }) };
  }

  /** The inner store's count of `key`, read without counting. */
  async function innerCount(inner: MemoryStore, clock: FakeClock, key: string): Promise<number | undefined> {
    return (await inner.apply([makeOp(clock, key, 0)]))[0]?.used;
  }

  it("answers a key known to be over its limit locally, without counting it in the store", async () => {
    const { clock, inner, cache } = setup();
    const over = makeOp(clock, "k", 3, { limit: 2 });
    expect((await cache.apply([over]))[0]).toMatchObject({ admitted: false, used: 3, fromLocalCache: false });
    const v = (await cache.apply([over]))[0] as Outcome;
    expect(v.fromLocalCache).toBe(true);
    expect(v.admitted).toBe(false);
    expect(v.consumed).toBe(0);
    expect(await innerCount(inner, clock, "k")).toBe(3);
  });

  it("passes the uncached ops of a batch to the store and answers the cached one locally", async () => {
    const { clock, inner, cache } = setup();
    await cache.apply([makeOp(clock, "over", 5, { limit: 1 })]);
    const outcomes = await cache.apply([
      makeOp(clock, "a", 1, { limit: 1 }),
      makeOp(clock, "over", 1, { limit: 1 }),
      makeOp(clock, "b", 1, { limit: 1 }),
    ]);
    expect(outcomes.map((v) => v.fromLocalCache)).toEqual([false, true, false]);
    expect(outcomes.map((v) => v.admitted)).toEqual([true, false, true]);
    expect([await innerCount(inner, clock, "a"), await innerCount(inner, clock, "over")]).toEqual([1, 5]);
  });

  it("caches a key until its window ends", async () => {
    const { clock, cache } = setup();
    await cache.apply([makeOp(clock, "k", 2, { limit: 1 })]);
    clock.advance(59_999);
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 1 })]))[0]?.fromLocalCache).toBe(true);
    clock.advance(1);
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 1 })]))[0]).toMatchObject({
      admitted: true,
      used: 1,
      fromLocalCache: false,
    });
  });

  it("does not cache a key at exactly its limit", async () => {
    const { clock, cache } = setup();
    await cache.apply([makeOp(clock, "k", 2, { limit: 2 })]);
    expect((await cache.apply([makeOp(clock, "k", 0, { limit: 2 })]))[0]?.fromLocalCache).toBe(false);
  });

  it("lets refunds through and forgets the key once it is within its limit again", async () => {
    const { clock, cache } = setup();
    await cache.apply([makeOp(clock, "k", 4, { limit: 2 })]);
    const refund = (await cache.apply([makeOp(clock, "k", 3, { limit: 2, negative: true })]))[0];
    expect(refund).toMatchObject({ admitted: true, used: 1, fromLocalCache: false });
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 2 })]))[0]).toMatchObject({
      admitted: true,
      used: 2,
      fromLocalCache: false,
    });
  });

  it("stays within maxBytes, evicting the oldest entries first", async () => {
    const clock = makeSuiteClock();
    const probe = makeOp(clock, "k0", 1);
    const perEntry = ENTRY_OVERHEAD_BYTES + 2 * probe.key.length;
    const { cache } = setup(perEntry * 2);
    for (const k of ["k0", "k1", "k2"]) await cache.apply([makeOp(clock, k, 2, { limit: 1 })]);
    const again = await cache.apply(["k0", "k1", "k2"].map((k) => makeOp(clock, k, 0, { limit: 1 })));
    expect(again.map((v) => v.fromLocalCache)).toEqual([false, true, true]);
  });

  it("rejects a non-positive size", () => {
    const clock = makeSuiteClock();
    expect(() => createOverLimitCache(createMemoryStore({ clock }), { clock, maxBytes: 0 })).toThrow(RangeError);
  });

  it("closes the inner store", async () => {
    const clock = makeSuiteClock();
    const inner = createMemoryStore({ clock });
    const cache = createOverLimitCache(inner, { clock, maxBytes: 1024 });
    await cache.apply([makeOp(clock, "k", 1)]);
    await cache.close();
    expect(inner.size).toBe(0);
  });
});
