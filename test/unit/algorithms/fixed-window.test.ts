import { describe, expect, it } from "vitest";
import {
  fixedWindowStep,
  isOverLimit,
  secondsUntilReset,
  windowStartSeconds,
} from "../../../src/algorithms/fixed-window.js";
import { applyStep } from "../../../src/algorithms/index.js";
import type { CounterOp } from "../../../src/domain/types.js";
import { MAX_HITS } from "../../../src/domain/types.js";

function op(hits: number, negative = false): CounterOp {
  return {
    key: "k_1700000040",
    hits,
    negative,
    limit: 10,
    unit: "minute",
    windowSeconds: 60,
    windowStartSeconds: 1_700_000_040,
    expiresAtMs: 1_700_000_100_000,
    algorithm: "fixed_window",
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

describe("secondsUntilReset()", () => {
  it.each([
    [1_700_000_065, 60, 35],
    [1_700_000_040, 60, 60],
    [1_700_000_099, 60, 1],
    [1_700_000_065, 1, 1],
    [1_700_000_065, 3600, 2735],
  ])("at t=%i with a %i-second window answers %i", (now, window, reset) => {
    expect(secondsUntilReset(now, window)).toBe(reset);
  });
});

describe("fixedWindowStep()", () => {
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
    expect(fixedWindowStep(before, o)).toEqual({ before, after, fromLocalCache: false });
    expect(applyStep(before, o)).toEqual({ before, after, fromLocalCache: false });
  });
});

describe("isOverLimit()", () => {
  it.each([
    [10, 10, false],
    [11, 10, true],
    [0, 0, false],
    [1, 0, true],
  ])("count %i against limit %i is over: %s", (after, limit, over) => {
    expect(isOverLimit(after, limit)).toBe(over);
  });
});
