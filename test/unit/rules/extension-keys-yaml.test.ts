/**
 * Sluice's rule keys beyond the reference, read from YAML text (not built through buildLimit directly): each one
 * must load. Bug found in 95196fa: yaml-walk.ts VALID_KEYS (the reference's validKeys) does not list `rate_limits`,
 * `algorithm`, `burst`, `unit_multiplier`, `window_anchor` or `budget`, so every file using them fails with
 * "unknown key".
 */
import { describe, expect, it } from "vitest";
import { compileRuleSet } from "../../../src/rules/compile.js";

function compile(text: string) {
  return compileRuleSet([{ name: "config.yaml", text }], { mergeDomainConfig: false });
}

describe("extension keys in YAML", () => {
  it.each([
    ["algorithm", "{unit: minute, requests_per_unit: 5, algorithm: sliding_window}", "algorithm=sliding_window"],
    ["burst", "{unit: minute, requests_per_unit: 5, algorithm: token_bucket, burst: 9}", "burst=9"],
    ["unit_multiplier", "{unit: minute, requests_per_unit: 5, unit_multiplier: 5}", "unit_multiplier=5"],
    ["window_anchor", "{unit: hour, requests_per_unit: 5, window_anchor: first_hit}", "window_anchor=first_hit"],
    ["budget", "{unit: hour, requests_per_unit: 5, budget: true}", "budget=true"],
  ])("loads rate_limit.%s", (_key, rateLimit, shown) => {
    const rs = compile(`domain: d\ndescriptors:\n  - key: k\n    rate_limit: ${rateLimit}\n`);
    expect(rs.dump()).toContain(shown);
  });

  it("loads a rate_limits list", () => {
    const text = `domain: d
descriptors:
  - key: k
    rate_limits:
      - {unit: second, requests_per_unit: 10}
      - {unit: day, requests_per_unit: 1000}
`;
    expect(compile(text).dump()).toBe(
      "d.k: unit=SECOND requests_per_unit=10, shadow_mode: false\nd.k: unit=DAY requests_per_unit=1000, shadow_mode: false\n",
    );
  });
});
