import { describe, expect, it } from "vitest";
import { InvalidRequestError, NoConfigError } from "../../../src/domain/errors.js";
import type { RuleSource } from "../../../src/domain/ports.js";
import type { Descriptor, RateLimitRequest, RuleSet } from "../../../src/domain/types.js";
import { MAX_HITS } from "../../../src/domain/types.js";
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from "../../../src/engine/options.js";
import { createRateLimiter } from "../../../src/engine/rate-limiter.js";
import { createOverLimitCache } from "../../../src/store/local-cache.js";
import { createMemoryStore, type MemoryStore } from "../../../src/store/memory-store.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { testLimit } from "../../helpers/limits.js";
import { fixtureRuleSet, limitRule } from "./rule-set-fixture.js";

const rules = fixtureRuleSet([
  { domain: "rl", entries: [{ key: "user" }], rule: limitRule({ fullKey: "rl.user", requestsPerUnit: 2 }) },
  {
    domain: "rl",
    entries: [{ key: "org" }],
    rule: limitRule({ fullKey: "rl.org", requestsPerUnit: 100, unit: "hour" }),
  },
]);

function d(key: string, value: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { entries: [{ key, value }], limit: undefined, hits: 1, negative: false, ...extra };
}

function setup(options: Partial<EngineOptions> = {}, opts: { localCache?: boolean; ruleSet?: RuleSet } = {}) {
  const clock = new FakeClock(1_700_000_040_000);
  const memory = createMemoryStore({ clock });
  const store = opts.localCache ? createOverLimitCache(memory, { clock, maxBytes: 1 << 16 }) : memory;
  const source: { current: RuleSet | undefined } = { current: opts.ruleSet ?? rules };
  const ruleSource: RuleSource = { current: () => source.current };
  const limiter = createRateLimiter({
    rules: ruleSource,
    store,
    clock,
    options: { ...DEFAULT_ENGINE_OPTIONS, ...options },
  });
  const decide = (...descriptors: Descriptor[]) => limiter.decide({ domain: "rl", descriptors });
  /** The hour counter of org=o, read through the limiter without counting. */
  const orgCount = async () => 100 - ((await decide(d("org", "o", { hits: 0 }))).statuses[0]?.limitRemaining ?? 0);
  return { clock, memory, source, limiter, decide, orgCount };
}

describe("createRateLimiter().decide()", () => {
  it("counts each request and goes over the limit on the third", async () => {
    const { decide } = setup();
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await decide(d("user", "a"))).overallCode);
    expect(codes).toEqual(["OK", "OK", "OVER_LIMIT"]);
    expect((await decide(d("user", "b"))).overallCode).toBe("OK");
  });

  it("starts again in the next window and reports the time to reset", async () => {
    const { clock, decide } = setup();
    for (let i = 0; i < 3; i++) await decide(d("user", "a"));
    clock.advance(45_000);
    expect((await decide(d("user", "a"))).statuses[0]?.durationUntilResetSeconds).toBe(15);
    clock.advance(15_000);
    expect((await decide(d("user", "a"))).statuses[0]).toMatchObject({ code: "OK", limitRemaining: 1 });
  });

  it.each([
    ["an empty domain", { domain: "", descriptors: [d("user", "a")] }, InvalidRequestError],
    ["no descriptors", { domain: "rl", descriptors: [] }, InvalidRequestError],
  ] as const)("rejects %s", async (_label, request: RateLimitRequest, error) => {
    const { limiter } = setup();
    await expect(limiter.decide(request)).rejects.toThrow(error);
  });

  it("rejects with NoConfigError until rules load, then answers", async () => {
    const { source, decide } = setup();
    source.current = undefined;
    await expect(decide(d("user", "a"))).rejects.toThrow(NoConfigError);
    source.current = rules;
    expect((await decide(d("user", "a"))).overallCode).toBe("OK");
  });

  it("answers an unknown domain OK without touching the store", async () => {
    const { limiter, memory } = setup();
    const decision = await limiter.decide({ domain: "other", descriptors: [d("user", "a"), d("org", "o")] });
    expect(decision.overallCode).toBe("OK");
    expect(decision.statuses.every((s) => s.currentLimit === undefined)).toBe(true);
    expect(memory.size).toBe(0);
  });

  it("checks without counting when hits is 0", async () => {
    const { decide, memory } = setup();
    expect((await decide(d("user", "a", { hits: 0 }))).statuses[0]?.limitRemaining).toBe(2);
    expect(memory.size).toBe(0);
  });

  it("answers a huge hits_addend OVER_LIMIT rather than failing", async () => {
    const { decide } = setup();
    expect((await decide(d("user", "a", { hits: MAX_HITS }))).overallCode).toBe("OVER_LIMIT");
    expect((await decide(d("user", "a", { hits: MAX_HITS }))).overallCode).toBe("OVER_LIMIT");
  });

  it("refunds negative hits and answers them OK", async () => {
    const { decide } = setup();
    await decide(d("user", "a", { hits: 3 }));
    const refund = await decide(d("user", "a", { hits: 2, negative: true }));
    expect(refund.overallCode).toBe("OK");
    expect(refund.statuses[0]?.limitRemaining).toBe(1);
    expect((await decide(d("user", "a"))).overallCode).toBe("OK");
  });

  it("keeps counting across a rule reload", async () => {
    const { source, decide } = setup();
    await decide(d("user", "a"));
    source.current = fixtureRuleSet([
      { domain: "rl", entries: [{ key: "user" }], rule: limitRule({ fullKey: "rl.user", requestsPerUnit: 3 }) },
    ]);
    expect((await decide(d("user", "a"))).statuses[0]?.limitRemaining).toBe(1);
  });

  it("increments every key, even under a limit that is over, by default", async () => {
    const { decide, orgCount } = setup();
    for (let i = 0; i < 4; i++) await decide(d("user", "a"), d("org", "o"));
    expect(await orgCount()).toBe(4);
  });

  describe("with STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT", () => {
    it("increments all keys while none would go over", async () => {
      const { decide, orgCount } = setup({ stopIncrementWhenOverLimit: true });
      const decision = await decide(d("user", "a"), d("org", "o"));
      expect(decision.statuses.map((s) => s.limitRemaining)).toEqual([1, 99]);
      expect(await orgCount()).toBe(1);
    });

    it("increments only the keys that would go over", async () => {
      const { decide, orgCount } = setup({ stopIncrementWhenOverLimit: true });
      await decide(d("user", "a"), d("org", "o"));
      await decide(d("user", "a"), d("org", "o"));
      const third = await decide(d("user", "a"), d("org", "o"));
      expect(third.overallCode).toBe("OVER_LIMIT");
      expect(third.statuses.map((s) => [s.code, s.limitRemaining])).toEqual([
        ["OVER_LIMIT", 0],
        ["OK", 98],
      ]);
      expect(await orgCount()).toBe(2);
      const userAfter = await decide(d("user", "a", { hits: 0 }));
      expect(userAfter.overallCode).toBe("OVER_LIMIT");
    });

    it("treats a check-only descriptor on a counter already over as going over (reference IsOverLimitThresholdReached)", async () => {
      const { decide, orgCount } = setup({ stopIncrementWhenOverLimit: true });
      for (let i = 0; i < 3; i++) await decide(d("user", "a"));
      const checked = await decide(d("user", "a", { hits: 0 }), d("org", "o"));
      expect(checked.statuses.map((s) => [s.code, s.limitRemaining])).toEqual([
        ["OVER_LIMIT", 0],
        ["OK", 100],
      ]);
      expect(await orgCount()).toBe(0);
      // At the limit but not over, a check-only descriptor does not stop the others.
      const { decide: decide2, orgCount: orgCount2 } = setup({ stopIncrementWhenOverLimit: true });
      for (let i = 0; i < 2; i++) await decide2(d("user", "a"));
      await decide2(d("user", "a", { hits: 0 }), d("org", "o"));
      expect(await orgCount2()).toBe(1);
    });

    it("increments nothing while a key is over its limit in the local cache", async () => {
      const { decide, orgCount } = setup({ stopIncrementWhenOverLimit: true }, { localCache: true });
      for (let i = 0; i < 3; i++) await decide(d("user", "a"), d("org", "o"));
      expect(await orgCount()).toBe(2);
      const again = await decide(d("user", "a"), d("org", "o"));
      expect(again.statuses.map((s) => s.code)).toEqual(["OVER_LIMIT", "OK"]);
      expect(await orgCount()).toBe(2);
    });

    it("still applies refunds", async () => {
      const { decide, orgCount } = setup({ stopIncrementWhenOverLimit: true }, { localCache: true });
      for (let i = 0; i < 3; i++) await decide(d("user", "a"), d("org", "o"));
      await decide(d("user", "a"), d("org", "o", { hits: 2, negative: true }));
      expect(await orgCount()).toBe(0);
    });
  });

  it("answers keys over their limit from the local cache without counting them", async () => {
    const { decide, memory } = setup({}, { localCache: true });
    for (let i = 0; i < 3; i++) await decide(d("user", "a"));
    expect((await decide(d("user", "a"))).overallCode).toBe("OVER_LIMIT");
    expect(await readUserA(memory)).toBe(3); // the fourth request never reached the memory store
  });
});

/** Reads user=a's minute counter straight from the memory store. */
async function readUserA(memory: MemoryStore): Promise<number | undefined> {
  const [v] = await memory.apply([
    {
      key: "rl_user_a_1700000040",
      hits: 0,
      negative: false,
      limit: testLimit({ requestsPerUnit: 2, unit: "minute" }),
      nowMs: 1_700_000_065_000,
      windowStartSeconds: 1_700_000_040,
      group: 1,
    },
  ]);
  return v?.used;
}
