import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { compileRuleSet } from "../../../src/rules/index.js";

function compile(descriptors: string) {
  return compileRuleSet([{ name: "x.yaml", text: `domain: d\ndescriptors:\n${descriptors}` }], {
    mergeDomainConfig: false,
  });
}

function errorOf(descriptors: string): { path: string; detail: string } {
  try {
    compile(descriptors);
  } catch (err) {
    if (err instanceof ConfigError) return { path: err.path, detail: err.detail };
    throw err;
  }
  throw new Error("compiled");
}

describe("rate_limit extension keys", () => {
  it("compiles every key into the limit, with defaults for a reference rule", () => {
    const rs = compile(`  - key: a
    rate_limit: {unit: minute, requests_per_unit: 60}
  - key: b
    rate_limit: {unit: minute, requests_per_unit: 60, algorithm: token_bucket, burst: 10, unit_multiplier: 5}
  - key: c
    rate_limit: {unit: minute, requests_per_unit: 500, window_anchor: first_hit, budget: true, unit_multiplier: 30}
`);
    expect(rs.findRule("d", [{ key: "a", value: "" }])?.limits[0]).toMatchObject({
      algorithm: "fixed_window",
      strategy: "fixed_window",
      burst: 60,
      unitMultiplier: 1,
      windowSeconds: 60,
      windowAnchor: "epoch",
      budget: false,
      keyTag: "",
    });
    expect(rs.findRule("d", [{ key: "b", value: "" }])?.limits[0]).toMatchObject({
      strategy: "gcra",
      burst: 10,
      windowSeconds: 300,
      keyTag: "tb300",
    });
    expect(rs.findRule("d", [{ key: "c", value: "" }])?.limits[0]).toMatchObject({
      strategy: "fixed_window_first_hit",
      budget: true,
      windowSeconds: 1800,
      keyTag: "fh1800",
    });
    expect(rs.dump()).toBe(
      [
        "d.a: unit=MINUTE requests_per_unit=60, shadow_mode: false",
        "d.b: unit=MINUTE requests_per_unit=60 algorithm=token_bucket burst=10 unit_multiplier=5, shadow_mode: false",
        "d.c: unit=MINUTE requests_per_unit=500 unit_multiplier=30 window_anchor=first_hit budget=true, shadow_mode: false",
        "",
      ].join("\n"),
    );
  });

  it("compiles a rate_limits list into one group, every limit on /rlconfig", () => {
    const rs = compile(`  - key: p
    rate_limits:
      - {unit: second, requests_per_unit: 10}
      - {unit: day, requests_per_unit: 1000, name: daily}
      - {unit: minute, requests_per_unit: 100, algorithm: sliding_window}
`);
    const limits = rs.findRule("d", [{ key: "p", value: "x" }])?.limits ?? [];
    expect(limits.map((l) => l.keyTag)).toEqual(["fw1", "fw86400_daily", "sw60"]);
    expect(rs.dump().split("\n").filter(Boolean)).toHaveLength(3);
  });

  it.each([
    [
      "algorithm: fast",
      "descriptors[0].rate_limit.algorithm",
      '"fast" is not one of fixed_window|sliding_window|token_bucket|leaky_bucket',
    ],
    ["burst: 0, algorithm: token_bucket", "descriptors[0].rate_limit.burst", "must be at least 1"],
    [
      "burst: 5",
      "descriptors[0].rate_limit.burst",
      "burst applies only to token_bucket and leaky_bucket, not fixed_window",
    ],
    [
      'burst: "5", algorithm: token_bucket',
      "descriptors[0].rate_limit.burst",
      'expected a whole number from 0 to 4294967295, got the string "5"',
    ],
    ["unit_multiplier: 0", "descriptors[0].rate_limit.unit_multiplier", "must be at least 1"],
    ["window_anchor: start", "descriptors[0].rate_limit.window_anchor", '"start" is not one of epoch|first_hit'],
    [
      "window_anchor: first_hit, algorithm: sliding_window",
      "descriptors[0].rate_limit.window_anchor",
      "first_hit applies only to fixed_window, not sliding_window",
    ],
    ["budget: maybe", "descriptors[0].rate_limit.budget", 'expected true or false, got the string "maybe"'],
  ])("rejects `%s` at %s", (extra, path, detail) => {
    const err = errorOf(`  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 5, ${extra}}\n`);
    expect(err.path).toBe(path);
    expect(err.detail).toContain(detail.split(", got")[0] ?? detail);
  });

  it.each([
    [
      "    rate_limit: {unit: minute, requests_per_unit: 1}\n    rate_limits: [{unit: minute, requests_per_unit: 1}]\n",
      "descriptors[0].rate_limits",
      "use either rate_limit or rate_limits, not both",
    ],
    ["    rate_limits: []\n", "descriptors[0].rate_limits", "rate_limits must list at least one limit"],
    [
      "    rate_limits: [{unlimited: true}]\n",
      "descriptors[0].rate_limits[0].unlimited",
      "unlimited is not allowed in rate_limits; use rate_limit",
    ],
    [
      "    rate_limits: [{unit: minute, requests_per_unit: 1}, {unit: minute, requests_per_unit: 2}]\n",
      "descriptors[0].rate_limits[1]",
      "two limits share algorithm, window and name; give one a distinct name",
    ],
    [
      "    rate_limits: [{unit: minute, requests_per_unit: 1, budget: true}, {unit: hour, requests_per_unit: 2}]\n",
      "descriptors[0].rate_limits[1].budget",
      "budget must be set on every limit of rate_limits or none",
    ],
    [
      "    rate_limit: {unit: minute, requests_per_unit: 0, algorithm: token_bucket}\n",
      "descriptors[0].rate_limit.requests_per_unit",
      "token_bucket needs requests_per_unit >= 1",
    ],
    [
      "    rate_limit: {unit: year, requests_per_unit: 4000000000, algorithm: sliding_window}\n",
      "descriptors[0].rate_limit",
      "limit × window is too large to count exactly (keep it below 2^53 ms)",
    ],
  ])("rejects an impossible combination (%#)", (yaml, path, detail) => {
    expect(errorOf(`  - key: k\n${yaml}`)).toEqual({ path, detail });
  });
});
