import { describe, expect, it } from "vitest";
import type { CounterStore } from "../../../src/domain/ports.js";
import type { CounterOp, Verdict } from "../../../src/domain/types.js";
import { createOverLimitCache, ENTRY_OVERHEAD_BYTES } from "../../../src/store/local-cache.js";
import { createMemoryStore, type MemoryStore } from "../../../src/store/memory-store.js";
import { describeCounterStore, makeOp, makeSuiteClock } from "../../contract/counter-store.contract.js";
import type { FakeClock } from "../../helpers/fake-clock.js";

/** A real memory store that records which ops reached it (an observation, not a double). */
function recording(clock: FakeClock): { store: MemoryStore; seen: CounterOp[][] } {
  const inner = createMemoryStore({ clock });
  const seen: CounterOp[][] = [];
  const store: MemoryStore = {
    get size() {
      return inner.size;
    },
    apply(ops) {
      seen.push([...ops]);
      return inner.apply(ops);
    },
    close: () => inner.close(),
  };
  return { store, seen };
}

// Large limits: the contract ops never go over, so the cache stays transparent.
describeCounterStore("memory behind the over-limit cache", (clock) =>
  createOverLimitCache(createMemoryStore({ clock }), { clock, maxBytes: 1 << 20 }),
);

describe("createOverLimitCache()", () => {
  function setup(maxBytes = 1 << 20): { clock: FakeClock; seen: CounterOp[][]; cache: CounterStore } {
    const clock = makeSuiteClock();
    const { store, seen } = recording(clock);
    return { clock, seen, cache: createOverLimitCache(store, { clock, maxBytes }) };
  }

  it("answers a key known to be over its limit locally, without counting or calling the store", async () => {
    const { clock, seen, cache } = setup();
    const over = makeOp(clock, "k", 3, { limit: 2 });
    expect((await cache.apply([over]))[0]).toEqual({ before: 0, after: 3, fromLocalCache: false });
    const calls = seen.length;
    const v = (await cache.apply([over]))[0] as Verdict;
    expect(v.fromLocalCache).toBe(true);
    expect(v.after).toBeGreaterThan(2);
    expect(seen.length).toBe(calls);
  });

  it("sends only the uncached ops of a batch, in one call", async () => {
    const { clock, seen, cache } = setup();
    await cache.apply([makeOp(clock, "over", 5, { limit: 1 })]);
    seen.length = 0;
    const verdicts = await cache.apply([
      makeOp(clock, "a", 1, { limit: 1 }),
      makeOp(clock, "over", 1, { limit: 1 }),
      makeOp(clock, "b", 1, { limit: 1 }),
    ]);
    expect(verdicts.map((v) => v.fromLocalCache)).toEqual([false, true, false]);
    expect(verdicts.map((v) => v.after)).toEqual([1, 2, 1]);
    expect(seen.map((batch) => batch.map((o) => o.key))).toEqual([
      [makeOp(clock, "a", 1).key, makeOp(clock, "b", 1).key],
    ]);
  });

  it("caches a key until its window ends", async () => {
    const { clock, cache } = setup();
    await cache.apply([makeOp(clock, "k", 2, { limit: 1 })]);
    clock.advance(59_999);
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 1 })]))[0]?.fromLocalCache).toBe(true);
    clock.advance(1);
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 1 })]))[0]).toEqual({
      before: 0,
      after: 1,
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
    expect(refund).toEqual({ before: 4, after: 1, fromLocalCache: false });
    expect((await cache.apply([makeOp(clock, "k", 1, { limit: 2 })]))[0]).toEqual({
      before: 1,
      after: 2,
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
