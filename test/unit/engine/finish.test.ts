import { describe, expect, it } from "vitest";
import { fixedWindow } from "../../../src/algorithms/fixed-window.js";
import type { CounterOp, Descriptor, Entry, LimitRule, Outcome, RateLimitRequest } from "../../../src/domain/types.js";
import { UNLIMITED_REMAINING } from "../../../src/domain/types.js";
import { createFinishContext, descriptorOutcome, finishDecision } from "../../../src/engine/finish.js";
import { NOOP_OBSERVER } from "../../../src/engine/noop-observer.js";
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from "../../../src/engine/options.js";
import { planRequest } from "../../../src/engine/plan.js";
import { fixtureRuleSet, limitRule } from "./rule-set-fixture.js";

const NOW_MS = 1_700_000_065_500; // minute resets in 35 s, hour in 2735 s
const HEADERS = {
  limitHeader: "RateLimit-Limit",
  remainingHeader: "RateLimit-Remaining",
  resetHeader: "RateLimit-Reset",
};

const RULES: Record<string, LimitRule> = {
  plain: limitRule({ fullKey: "rl.plain", requestsPerUnit: 10, name: "plain-rule" }),
  hourly: limitRule({ fullKey: "rl.hourly", requestsPerUnit: 100, unit: "hour" }),
  shadow: limitRule({ fullKey: "rl.shadow", requestsPerUnit: 10, shadowMode: true }),
  quota: limitRule({ fullKey: "rl.quota", requestsPerUnit: 3, quotaMode: true }),
  quota2: limitRule({ fullKey: "rl.quota2", requestsPerUnit: 4, quotaMode: true }),
  six: limitRule({ fullKey: "rl.six", requestsPerUnit: 6 }),
  free: limitRule({ fullKey: "rl.free", unlimited: true }),
  meta1: limitRule({ fullKey: "rl.meta1", metadata: { svc: "a", nested: { x: 1, keep: "first" }, list: [1] } }),
  meta2: limitRule({ fullKey: "rl.meta2", metadata: { svc: "b", nested: { y: 2, keep: "second" }, extra: true } }),
  meta3: limitRule({ fullKey: "rl.meta3", requestsPerUnit: 1, metadata: { over: "never merged" } }),
};
const ruleSet = fixtureRuleSet(
  Object.entries(RULES).map(([key, rule]) => ({ domain: "rl", entries: [{ key }], rule })),
);

type Spec = readonly [rule: string, after?: number, extra?: Partial<Descriptor> & { local?: boolean }];

/** Plans a request with one descriptor per spec and finishes it with the given counts. */
function decide(specs: readonly Spec[], options: Partial<EngineOptions> = {}, request: Partial<RateLimitRequest> = {}) {
  const descriptors = specs.map(([rule, , extra]) => {
    const { local: _local, ...rest } = extra ?? {};
    return { entries: [{ key: rule, value: "v" }] as Entry[], limit: undefined, hits: 1, negative: false, ...rest };
  });
  const plan = planRequest({ domain: "rl", descriptors, ...request }, ruleSet, NOW_MS, "");
  const outcomes: Outcome[] = [];
  specs.forEach(([, after, extra], i) => {
    if (plan.slots[i] === outcomes.length) {
      const op = plan.ops[outcomes.length] as CounterOp;
      // The fixed window's outcome for a counter that reached `after` with this op (a refund: from `after`).
      const before = op.negative ? (after ?? 0) + op.hits : Math.max(0, (after ?? 0) - op.hits);
      const o = fixedWindow.step(before, op, true).outcome;
      outcomes.push(extra?.local ? { ...o, admitted: false, consumed: 0, fromLocalCache: true } : o);
    }
  });
  return finishDecision(plan, outcomes, createFinishContext({ ...DEFAULT_ENGINE_OPTIONS, ...options }, NOOP_OBSERVER));
}

describe("finishDecision()", () => {
  const plain = { requestsPerUnit: 10, unit: "minute", name: "plain-rule" };
  it.each([
    ["under the limit", ["plain", 1], "OK", 9],
    ["exactly at the limit", ["plain", 10], "OK", 0],
    ["over the limit", ["plain", 11], "OVER_LIMIT", 0],
    ["a check-only read at the limit", ["plain", 10, { hits: 0 }], "OK", 0],
    ["a check-only read over the limit", ["plain", 11, { hits: 0 }], "OVER_LIMIT", 0],
    ["a local-cache hit", ["plain", 11, { local: true }], "OVER_LIMIT", 0],
    ["a refund that leaves the counter over", ["plain", 12, { negative: true, hits: 3 }], "OK", 0],
    ["a refund within the limit", ["plain", 4, { negative: true, hits: 3 }], "OK", 6],
  ] as const)("answers %s", (_label, spec, code, remaining) => {
    const d = decide([spec]);
    expect(d.statuses).toEqual([
      { code, currentLimit: plain, limitRemaining: remaining, durationUntilResetSeconds: 35 },
    ]);
    expect(d.overallCode).toBe(code);
  });

  it("answers a shadow-mode rule over its limit OK, with 0 remaining", () => {
    const d = decide([["shadow", 11]]);
    expect(d.overallCode).toBe("OK");
    expect(d.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
  });

  it("reports the reset of the rule's own unit", () => {
    expect(decide([["hourly", 1]]).statuses[0]?.durationUntilResetSeconds).toBe(2735);
  });

  it("answers unlimited with uint32-max remaining and no current limit, and no rule with nothing", () => {
    expect(decide([["free"], ["unknown"]]).statuses).toEqual([
      {
        code: "OK",
        currentLimit: undefined,
        limitRemaining: UNLIMITED_REMAINING,
        durationUntilResetSeconds: undefined,
      },
      { code: "OK", currentLimit: undefined, limitRemaining: 0, durationUntilResetSeconds: undefined },
    ]);
  });

  it.each([
    [
      "a non-quota descriptor over, quota ones fine",
      [
        ["plain", 11],
        ["quota", 1],
      ],
      {},
      "OVER_LIMIT",
    ],
    [
      "one of two quota descriptors over",
      [
        ["quota", 4],
        ["quota2", 1],
      ],
      {},
      "OK",
    ],
    [
      "every quota descriptor over",
      [
        ["quota", 4],
        ["quota2", 5],
      ],
      {},
      "OVER_LIMIT",
    ],
    ["the only quota descriptor over", [["quota", 4]], {}, "OVER_LIMIT"],
    [
      "the only quota descriptor over beside a fine non-quota one",
      [
        ["quota", 4],
        ["plain", 1],
      ],
      {},
      "OVER_LIMIT",
    ],
    [
      "one of two quota descriptors over beside a fine non-quota one",
      [
        ["quota", 4],
        ["quota2", 1],
        ["plain", 1],
      ],
      {},
      "OK",
    ],
    [
      "QUOTA_MODE with one of two over",
      [
        ["plain", 11],
        ["six", 1],
      ],
      { globalQuotaMode: true },
      "OK",
    ],
    [
      "QUOTA_MODE with all over",
      [
        ["plain", 11],
        ["six", 7],
      ],
      { globalQuotaMode: true },
      "OVER_LIMIT",
    ],
    [
      "QUOTA_MODE counting an unmatched descriptor as quota",
      [["plain", 11], ["unknown"]],
      { globalQuotaMode: true },
      "OK",
    ],
    ["QUOTA_MODE ignoring unlimited descriptors", [["plain", 11], ["free"]], { globalQuotaMode: true }, "OVER_LIMIT"],
    ["SHADOW_MODE with a descriptor over", [["plain", 11]], { globalShadowMode: true }, "OK"],
  ] as const)("decides the overall code with %s", (_label, specs, options, code) => {
    expect(decide(specs as readonly Spec[], options).overallCode).toBe(code);
  });

  it("keeps OVER_LIMIT in the status of a quota descriptor that is over", () => {
    expect(
      decide([
        ["quota", 4],
        ["quota2", 1],
      ]).statuses.map((s) => s.code),
    ).toEqual(["OVER_LIMIT", "OK"]);
  });

  it("keeps per-descriptor statuses under global shadow mode", () => {
    expect(decide([["plain", 11]], { globalShadowMode: true }).statuses[0]?.code).toBe("OVER_LIMIT");
  });

  it.each([
    [
      "the descriptor closest to its limit",
      [
        ["plain", 5],
        ["six", 4],
        ["hourly", 1],
      ],
      ["6", "2", "35"],
    ],
    [
      "an hourly rule",
      [
        ["hourly", 95],
        ["plain", 1],
      ],
      ["100", "5", "2735"],
    ],
    [
      "the last non-quota descriptor over its limit",
      [
        ["plain", 11],
        ["six", 7],
        ["hourly", 99],
      ],
      ["6", "0", "35", "35"],
    ],
    [
      "an over-limit descriptor over a closer quota one",
      [
        ["quota", 4],
        ["six", 7],
      ],
      ["6", "0", "35", "35"],
    ],
    [
      "the first status at 0 when none is a failing non-quota one",
      [
        ["quota", 4],
        ["plain", 10],
      ],
      ["3", "0", "35", "35"],
    ],
    [
      "a shadow rule over its limit",
      [
        ["shadow", 11],
        ["plain", 2],
      ],
      ["10", "0", "35"],
    ],
  ] as const)("adds RateLimit-* headers for %s", (_label, specs, values) => {
    const d = decide(specs as readonly Spec[], { responseHeaders: HEADERS });
    // An over-limit status also carries Retry-After (the same seconds as the reset header).
    const retry = values[3] === undefined ? [] : [{ key: "Retry-After", value: values[3] }];
    expect(d.responseHeaders).toEqual([
      { key: "RateLimit-Limit", value: values[0] },
      { key: "RateLimit-Remaining", value: values[1] },
      { key: "RateLimit-Reset", value: values[2] },
      ...retry,
    ]);
  });

  it("adds no headers when disabled, or when no descriptor has a limit", () => {
    expect(decide([["plain", 11]]).responseHeaders).toEqual([]);
    expect(decide([["free"], ["unknown"]], { responseHeaders: HEADERS }).responseHeaders).toEqual([]);
  });

  it("adds no dynamic metadata unless enabled", () => {
    expect(decide([["meta1", 1]]).dynamicMetadata).toBeUndefined();
  });

  it("builds dynamic metadata with the request, overrides, hits and the passing rules' metadata merged", () => {
    const d = decide(
      [
        ["meta1", 1, { hitsAddend: 0, hits: 0 }],
        ["meta3", 2],
        ["meta2", 1],
        ["plain", 1, { limit: { requestsPerUnit: 7, unit: "hour" } }],
      ],
      { responseDynamicMetadata: true },
      { hitsAddend: 5 },
    );
    expect(d.dynamicMetadata).toEqual({
      domain: "rl",
      descriptors: [
        { entries: ["meta1=v"], hitsAddend: 0 },
        { entries: ["meta3=v"] },
        { entries: ["meta2=v"] },
        { entries: ["plain=v"], limit: "requests_per_unit:7 unit:HOUR" },
      ],
      hitsAddend: 5,
      metadata: { svc: "a", nested: { x: 1, keep: "first", y: 2 }, list: [1], extra: true },
    });
    expect(RULES["meta1"]?.metadata).toEqual({ svc: "a", nested: { x: 1, keep: "first" }, list: [1] });
  });

  it("omits metadata when no passing descriptor carries any, and a zero request hits_addend", () => {
    const d = decide([["meta1", 11]], { responseDynamicMetadata: true }, { hitsAddend: 0 });
    expect(d.dynamicMetadata).toEqual({ domain: "rl", descriptors: [{ entries: ["meta1=v"] }] });
  });
});

/** A fixed-window outcome: `hits` counted, reaching `after` against `rpu` (or answered by the local cache). */
function counted(hits: number, after: number, local: boolean, rpu: number): Outcome {
  const admitted = !local && after <= rpu;
  const remaining = after < rpu ? rpu - after : 0;
  return {
    admitted,
    remaining,
    retryAfterMs: 0,
    resetAfterMs: 0,
    consumed: local ? 0 : hits,
    used: after,
    fromLocalCache: local,
  };
}

describe("descriptorOutcome()", () => {
  const rule = limitRule({ requestsPerUnit: 10 });
  const LIMIT = rule.limits[0] as LimitRule["limits"][number];
  it.each([
    // hits, after, fromLocalCache, over, near, within
    [1, 1, false, 0, 0, 1],
    [1, 9, false, 0, 1, 1],
    [3, 10, false, 0, 2, 3],
    [3, 12, false, 2, 1, 0],
    [10, 15, false, 5, 2, 0],
    [2, 12, false, 2, 0, 0],
    [0, 12, false, 0, 0, 0],
    [0, 9, false, 0, 0, 0],
    [3, 0, true, 3, 0, 0],
  ])(
    "splits %i hits reaching %i (local cache: %s) into over %i, near %i, within %i",
    (hits, after, local, over, near, within) => {
      expect(descriptorOutcome("rl", rule, LIMIT, hits, counted(hits, after, local, 10), Math.fround(0.8))).toEqual({
        domain: "rl",
        rule,
        limit: LIMIT,
        hits,
        overLimitHits: over,
        nearLimitHits: near,
        withinLimitHits: within,
        overLimitWithLocalCache: local,
        shadowMode: false,
      });
    },
  );

  it("computes the near threshold in float32 as the reference does", () => {
    const r = limitRule({ requestsPerUnit: 100 });
    const l = r.limits[0] as LimitRule["limits"][number];
    // float64 would give floor(28.999…) = 28; float32 rounds the product to 29.
    expect(descriptorOutcome("rl", r, l, 1, counted(1, 29, false, 100), Math.fround(0.29)).nearLimitHits).toBe(0);
    expect(descriptorOutcome("rl", r, l, 1, counted(1, 30, false, 100), Math.fround(0.29)).nearLimitHits).toBe(1);
  });

  it("flags shadow mode only when a shadow rule is over its limit", () => {
    const shadow = limitRule({ requestsPerUnit: 10, shadowMode: true });
    const l = shadow.limits[0] as LimitRule["limits"][number];
    expect(descriptorOutcome("rl", shadow, l, 1, counted(1, 11, false, 10), 0.8).shadowMode).toBe(true);
    expect(descriptorOutcome("rl", shadow, l, 1, counted(1, 0, true, 10), 0.8).shadowMode).toBe(true);
    expect(descriptorOutcome("rl", shadow, l, 1, counted(1, 10, false, 10), 0.8).shadowMode).toBe(false);
  });
});
