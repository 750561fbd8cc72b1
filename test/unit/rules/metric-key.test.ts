import { readFileSync } from "node:fs";
import { join } from "node:path";
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
      "  - key: shared",
      "    value: api/*",
      "    share_threshold: true",
      "    value_to_metric: true",
      "    descriptors:",
      "      - {key: method, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - {key: sharedleaf, value: foo*, share_threshold: true, value_to_metric: true," +
        " rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - key: key-1",
      "    value: value-1",
      "    detailed_metric: true",
      "    rate_limit: {unit: second, requests_per_unit: 1}",
      "    descriptors:",
      "      - {key: key-2, detailed_metric: true, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - key: vroute",
      "    value_to_metric: true",
      "    descriptors:",
      "      - {key: http_method, value_to_metric: true, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - key: dshared",
      "    value: x*",
      "    share_threshold: true",
      "    descriptors:",
      "      - {key: sub, detailed_metric: true, rate_limit: {unit: second, requests_per_unit: 1}}",
    ].join("\n"),
  );
  it.each([
    [["plain", "x"], "d.plain"],
    [["wild", "foo1"], "d.wild_foo*"],
    [["v2m", "x"], "d.v2m_x"],
    [["detailed", "x"], "d.detailed_x"],
    [["route", "api/users", "method", "GET"], "d.route_api/users.method"],
    // The three cases where Sluice once differed from the reference (issue 8), pinned:
    // share_threshold + value_to_metric writes the wildcard pattern, not the request value;
    [["shared", "api/v1", "method", "GET"], "d.shared_api/*.method"],
    [["sharedleaf", "foo1"], "d.sharedleaf_foo*"],
    // detailed_metric writes every level's value, also on a rule with nested descriptors;
    [["parent", "p"], "d.parent_p"],
    [["key-1", "value-1"], "d.key-1_value-1"],
    [["key-1", "value-1", "key-2", "value-2"], "d.key-1_value-1.key-2_value-2"],
    // value_to_metric with an empty request value writes the bare key.
    [["vroute", "", "http_method", "GET"], "d.vroute.http_method_GET"],
    // detailed_metric: `key_` for an empty value, unless a level shares (then that level keeps its pattern).
    [["detailed", ""], "d.detailed_"],
    [["dshared", "x1", "sub", ""], "d.dshared_x*.sub"],
    [["dshared", "x1", "sub", "s"], "d.dshared_x*.sub_s"],
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

describe("config/README.md metrics example", () => {
  const readme = readFileSync(join(import.meta.dirname, "../../../config/README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Metrics: detailed_metric and value_to_metric"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const rs = compileText(yaml);
  it.each([
    [["route", "api/users", "method", "GET"], "metrics.route_api/users.method"],
    [["tenant", "t-9"], "metrics.tenant_t-*"],
    [["customer", "acme"], "metrics.customer_acme"],
    [["customer", "acme", "plan", "gold"], "metrics.customer_acme.plan_gold"],
  ])("gives %j the stats key its comment names (%s)", (kv, expected) => {
    expect(yaml).toContain(`stats key: ${expected}`);
    const entries = pairs(...kv);
    expect(metricKeyFor(rs.findRule("metrics", entries) as LimitRule, entries)).toBe(expected);
  });
});
