import { describe, expect, it } from "vitest";
import type { CounterOp } from "../../../src/domain/types.js";
import { createMemoryStore, DEFAULT_MAX_KEYS } from "../../../src/store/memory-store.js";
import { describeCounterStore, makeOp, makeSuiteClock } from "../../contract/counter-store.contract.js";
import { describeLimits } from "../../contract/limits.contract.js";
import { FakeClock } from "../../helpers/fake-clock.js";

describeCounterStore("memory", (clock) => createMemoryStore({ clock }), { countKeys: (store) => store.size });
describeLimits("memory", (clock) => createMemoryStore({ clock }));

describe("createMemoryStore()", () => {
  it("counts live keys in size, not reads", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock });
    await store.apply([makeOp(clock, "a", 1), makeOp(clock, "b", 1), makeOp(clock, "a", 1), makeOp(clock, "c", 0)]);
    expect(store.size).toBe(2);
  });

  it("reclaims a window's keys once the window has ended", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock });
    await store.apply(Array.from({ length: 50 }, (_, i) => makeOp(clock, `m${i}`, 1)));
    await store.apply([makeOp(clock, "s", 1, { unit: "second" })]);
    expect(store.size).toBe(51);
    clock.advance(1_000);
    await store.apply([]);
    expect(store.size).toBe(50);
    clock.advance(58_999);
    await store.apply([]);
    expect(store.size).toBe(50);
    clock.advance(1);
    await store.apply([]);
    expect(store.size).toBe(0);
  });

  it("drops a key whose count a refund brings back to 0", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock });
    await store.apply([makeOp(clock, "r", 2)]);
    await store.apply([makeOp(clock, "r", 5, { negative: true })]);
    expect(store.size).toBe(0);
  });

  it("never holds more than maxKeys, evicting the soonest-ending window's oldest key first", async () => {
    // Half past the hour: the minute window must end before the hour one. (makeSuiteClock's current minute failed
    // this test whenever it ran in the last minute of an hour, when both windows end together.)
    const clock = new FakeClock(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 30 * 60_000);
    const store = createMemoryStore({ clock, maxKeys: 3 });
    await store.apply([makeOp(clock, "hour", 1, { unit: "hour" })]);
    await store.apply([makeOp(clock, "m1", 1), makeOp(clock, "m2", 1)]);
    expect(store.size).toBe(3);
    await store.apply([makeOp(clock, "m3", 1)]);
    expect(store.size).toBe(3);
    // m1 (oldest of the minute window, which ends first) was evicted; the hour counter survived.
    expect(
      (
        await store.apply([makeOp(clock, "m1", 0), makeOp(clock, "m2", 0), makeOp(clock, "hour", 0, { unit: "hour" })])
      ).map((v) => v.used),
    ).toEqual([0, 1, 1]);
    for (let i = 0; i < 100; i++) await store.apply([makeOp(clock, `k${i}`, 1, { unit: "second" })]);
    expect(store.size).toBe(3);
  });

  it("keeps counting existing keys exactly when full", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock, maxKeys: 2 });
    await store.apply([makeOp(clock, "a", 1), makeOp(clock, "b", 1)]);
    const v = await store.apply([makeOp(clock, "a", 1), makeOp(clock, "b", 1)]);
    expect(v.map((x) => x.used)).toEqual([2, 2]);
    expect(store.size).toBe(2);
  });

  it("rejects a non-positive maxKeys and defaults to one million", () => {
    const clock = makeSuiteClock();
    expect(() => createMemoryStore({ clock, maxKeys: 0 })).toThrow(RangeError);
    expect(DEFAULT_MAX_KEYS).toBe(1_000_000);
  });

  it("forgets every counter on close()", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock });
    await store.apply([makeOp(clock, "a", 1)]);
    await store.close();
    expect(store.size).toBe(0);
  });
});

describe("eviction cost", () => {
  it("stays constant per key over 1,000,000 evictions (wheel steps, not wall time)", async () => {
    const clock = makeSuiteClock();
    const store = createMemoryStore({ clock, maxKeys: 10_000 });
    let next = 0;
    const proto = makeOp(clock, "e", 1, { unit: "hour" });
    const batch = (): CounterOp[] => Array.from({ length: 1024 }, () => ({ ...proto, key: `e${next++}` }));
    while (store.size < 10_000) await store.apply(batch());
    const tenths: number[] = [];
    let steps = store.evictionSteps;
    let evicted = store.evictions;
    while (store.evictions < 1_000_000) {
      await store.apply(batch());
      if (store.evictions - evicted >= 100_000) {
        tenths.push((store.evictionSteps - steps) / (store.evictions - evicted));
        steps = store.evictionSteps;
        evicted = store.evictions;
      }
    }
    expect(store.size).toBe(10_000);
    const first = tenths[0] as number;
    const last = tenths[tenths.length - 1] as number;
    expect(first).toBeGreaterThan(0);
    expect(last).toBeLessThanOrEqual(2 * first);
  }, 60_000);
});
