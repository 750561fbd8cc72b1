import { describe, expect, it } from "vitest";
import { fixedWindow, windowStartSeconds } from "../../../src/algorithms/fixed-window.js";
import type { CounterOp } from "../../../src/domain/types.js";
import { MAX_HITS } from "../../../src/domain/types.js";
import { testLimit } from "../../helpers/limits.js";

const NOW_MS = 1_700_000_065_000;

function op(hits: number, negative = false, spec: Parameters<typeof testLimit>[0] = {}): CounterOp {
  return {
    key: "k_1700000040",
    hits,
    negative,
    limit: testLimit({ requestsPerUnit: 10, unit: "minute", ...spec }),
    nowMs: NOW_MS,
    windowStartSeconds: 1_700_000_040,
    group: 1,
  };
}

describe("windowStartSeconds()", () => {
  it.each([
    [1_700_000_065, 1, 1_700_000_065],
    [1_700_000_065, 60, 1_700_000_040],
    [1_700_000_065, 3600, 1_699_999_200],
    [1_700_000_065, 86_400, 1_699_920_000],
    [1_700_000_065, 604_800, 1_699_488_000],
    [1_700_000_065, 2_592_000, 1_697_760_000],
    [1_700_000_065, 31_536_000, 1_671_408_000],
    [1_700_000_040, 60, 1_700_000_040],
  ])("aligns t=%i to the %i-second window starting at %i", (now, window, start) => {
    expect(windowStartSeconds(now, window)).toBe(start);
    expect(start % window).toBe(0);
  });
});

describe("fixedWindow.step() reset time", () => {
  it.each([
    [1_700_000_065, "minute", 35],
    [1_700_000_040, "minute", 60],
    [1_700_000_099, "minute", 1],
    [1_700_000_065, "second", 1],
    [1_700_000_065, "hour", 2735],
  ] as const)("at t=%i with a %s window answers %i s, the reference's CalculateReset", (now, unit, reset) => {
    const limit = testLimit({ requestsPerUnit: 10, unit });
    const start = windowStartSeconds(now, limit.windowSeconds);
    const o = { key: "k", hits: 1, negative: false, limit, nowMs: now * 1000, windowStartSeconds: start, group: 1 };
    expect(fixedWindow.step(0, o, true).outcome.resetAfterMs).toBe(reset * 1000);
  });
});

describe("fixedWindow.step()", () => {
  it.each([
    ["adds hits", 0, op(1), 1],
    ["adds several hits", 4, op(3), 7],
    ["reads with hits 0", 9, op(0), 9],
    ["counts past 2^32 without wrapping", 2 ** 32 - 1, op(2), 2 ** 32 + 1],
    ["counts MAX_HITS exactly", MAX_HITS, op(MAX_HITS), 2 * MAX_HITS],
    ["refunds negative hits", 5, op(3, true), 2],
    ["floors a refund at 0", 2, op(5, true), 0],
    ["refunds nothing from an empty counter", 0, op(1, true), 0],
  ])("%s", (_label, before, o, after) => {
    const r = fixedWindow.step(before, o, true);
    expect(r.next).toBe(after);
    expect(r.outcome.used).toBe(after);
    expect(r.outcome.consumed).toBe(o.negative ? 0 : o.hits);
  });

  it.each([
    // before, hits, admitted, remaining, consumed
    [0, 1, true, 9, 1],
    [9, 1, true, 0, 1],
    [10, 0, true, 0, 0],
    [10, 1, false, 0, 1],
    [11, 0, false, 0, 0],
    [0, 0, true, 10, 0],
  ])("from %i with %i hits: admitted %s, remaining %i, consumed %i (count-always)", (before, hits, ok, rem, con) => {
    const r = fixedWindow.step(before, op(hits), true);
    expect(r.outcome).toMatchObject({ admitted: ok, remaining: rem, consumed: con });
    expect(r.outcome.retryAfterMs).toBe(ok ? 0 : 35_000);
    expect(r.outcome.resetAfterMs).toBe(35_000);
    expect(r.write).toBe(hits > 0);
  });

  it.each([
    // before, hits, admitted (budget: OVER once nothing is left; a check needs one unit)
    [9, 0, true],
    [10, 0, false],
    [8, 1, true],
    [9, 1, false],
    [9, 5, false],
  ])("as a budget from %i with %i hits: admitted %s, every charge counted", (before, hits, ok) => {
    const r = fixedWindow.step(before, op(hits, false, { budget: true }), true);
    expect(r.outcome.admitted).toBe(ok);
    expect(r.next).toBe(before + hits);
  });

  it("spans unit_multiplier units, aligned to the epoch", () => {
    const five = op(1, false, { unitMultiplier: 5 });
    expect(five.limit.windowSeconds).toBe(300);
    expect(windowStartSeconds(1_700_000_065, 300)).toBe(1_699_999_800);
  });
});
