import { describe, expect, it } from "vitest";
import type { Entry, LimitRule } from "../../../src/domain/types.js";
import { metricKeyFor } from "../../../src/rules/metric-key.js";
import { compileText, compileValid } from "./load-fixture.js";

function pairs(...kv: string[]): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < kv.length; i += 2) out.push({ key: kv[i] ?? "", value: kv[i + 1] ?? "" });
  return out;
}

describe("metricKeyFor()", () => {
  const rs = compileText(
    [
      "domain: d",
      "descriptors:",
      "  - {key: plain, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - {key: wild, value: foo*, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - {key: v2m, value_to_metric: true, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - {key: detailed, detailed_metric: true, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - key: route",
      "    value: api/*",
      "    value_to_metric: true",
      "    descriptors:",
      "      - {key: method, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - key: parent",
      "    detailed_metric: true",
      "    rate_limit: {unit: second, requests_per_unit: 1}",
      "    descriptors:",
      "      - {key: child, rate_limit: {unit: second, requests_per_unit: 1}}",
    ].join("\n"),
  );
  it.each([
    [["plain", "x"], "d.plain"],
    [["wild", "foo1"], "d.wild_foo*"],
    [["v2m", "x"], "d.v2m_x"],
    [["detailed", "x"], "d.detailed_x"],
    [["route", "api/users", "method", "GET"], "d.route_api/users.method"],
    // detailed_metric takes effect only where the walk stops, as in the reference.
    [["parent", "p"], "d.parent"],
  ])("gives %j the stats key %s", (kv, expected) => {
    const entries = pairs(...kv);
    const rule = rs.findRule("d", entries) as LimitRule;
    expect(metricKeyFor(rule, entries)).toBe(expected);
  });

  it("returns fullKey itself when the key does not depend on the request", () => {
    const rule = compileValid("basic.yaml").findRule("test-domain", pairs("key2", "x")) as LimitRule;
    expect(metricKeyFor(rule, pairs("key2", "x"))).toBe(rule.fullKey);
  });
});
