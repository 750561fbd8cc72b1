import { describe, expect, it } from "vitest";
import { compileText, compileValid } from "./load-fixture.js";

describe("dump()", () => {
  it("prints one reference-format line per rule, in file order", () => {
    expect(compileValid("basic.yaml").dump()).toBe(
      [
        "test-domain.key1_value1.subkey1: unit=SECOND requests_per_unit=5, shadow_mode: false",
        "test-domain.key1_value1.subkey1_subvalue1: unit=SECOND requests_per_unit=10, shadow_mode: true",
        "test-domain.key2: unit=MINUTE requests_per_unit=20, shadow_mode: false",
        "test-domain.key2_value2: unit=MINUTE requests_per_unit=30, shadow_mode: false",
        "test-domain.key3: unit=HOUR requests_per_unit=1, shadow_mode: false",
        "test-domain.key4: unit=DAY requests_per_unit=1, shadow_mode: false",
        "test-domain.key5: unit=MINUTE requests_per_unit=50, shadow_mode: false",
        "test-domain.key5.subkey5: unit=MINUTE requests_per_unit=60, shadow_mode: false",
        "test-domain.key6: unit=UNKNOWN requests_per_unit=0, shadow_mode: false",
        "test-domain.key7: unit=MINUTE requests_per_unit=70, shadow_mode: false",
        "",
      ].join("\n"),
    );
  });

  it("prints wildcard levels with their pattern and every unit upper-case", () => {
    const text = [
      "domain: d",
      "descriptors:",
      "  - {key: p, value: a/*, rate_limit: {unit: Week, requests_per_unit: 1}}",
      "  - {key: q, rate_limit: {unit: month, requests_per_unit: 2}}",
      "  - {key: r, rate_limit: {unit: year, requests_per_unit: 3}}",
    ].join("\n");
    expect(compileText(text).dump().split("\n")).toEqual([
      "d.p_a/*: unit=WEEK requests_per_unit=1, shadow_mode: false",
      "d.q: unit=MONTH requests_per_unit=2, shadow_mode: false",
      "d.r: unit=YEAR requests_per_unit=3, shadow_mode: false",
      "",
    ]);
  });

  it("lists merged domains once, with the descriptors of every file", () => {
    expect(compileValid("merge_a.yaml", "merge_b.yaml").dump().trimEnd().split("\n")).toEqual([
      "merged.key1_value1: unit=MINUTE requests_per_unit=10, shadow_mode: false",
      "merged.w_a*: unit=MINUTE requests_per_unit=11, shadow_mode: false",
      "merged.key2_value2: unit=MINUTE requests_per_unit=20, shadow_mode: false",
      "merged.w_ab*: unit=MINUTE requests_per_unit=21, shadow_mode: false",
    ]);
  });
});
