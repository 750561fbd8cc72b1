/**
 * Black-box compatibility with envoyproxy/ratelimit, part 1b: which rule a descriptor gets (the reference's
 * config_impl.go GetLimit walk): value-less keys, exact before wildcard before value-less, `*` at the end, start,
 * middle and several times, nested levels under a wildcard, depth matching, the composite key_value quirk,
 * share_threshold and replaces. Independent client, built `node dist/main.js`, memory backend.
 */
import { describe, expect, it } from "vitest";
import { useCompat } from "../helpers/compat-process.js";
import { descriptor as d, type WireDescriptor, type WireResponse } from "../helpers/envoy-client.js";

const RULES = `domain: compat
descriptors:
  - key: user
    rate_limit: {name: per-user, unit: hour, requests_per_unit: 3}
  - key: user
    value: vip
    rate_limit: {unit: hour, requests_per_unit: 5}
  - key: route
    value: a
    rate_limit: {unit: day, requests_per_unit: 10}
    descriptors:
      - key: client
        rate_limit: {unit: day, requests_per_unit: 2}
      - key: client
        value: gold
        descriptors:
          - key: method
            value: GET
            rate_limit: {unit: day, requests_per_unit: 7}
  - key: path
    value: /api/*
    rate_limit: {unit: day, requests_per_unit: 2}
  - key: path
    value: /api/special
    rate_limit: {unit: day, requests_per_unit: 4}
  - key: host
    value: "*.example.com"
    rate_limit: {unit: day, requests_per_unit: 3}
  - key: file
    value: /v1/*/export/*.csv
    rate_limit: {unit: day, requests_per_unit: 6}
  - key: svc
    value: "*"
    rate_limit: {unit: day, requests_per_unit: 8}
  - key: svc
    rate_limit: {unit: day, requests_per_unit: 9}
  - key: api
    value: v1/*
    descriptors:
      - key: method
        value: GET
        rate_limit: {unit: day, requests_per_unit: 11}
      - key: method
        rate_limit: {unit: day, requests_per_unit: 12}
  - key: a
    value: b_c
    rate_limit: {unit: day, requests_per_unit: 13}
  - key: shared
    value: files/*
    share_threshold: true
    rate_limit: {unit: day, requests_per_unit: 3}
  - key: tier
    value: base
    rate_limit: {name: base, unit: day, requests_per_unit: 1}
  - key: tier
    value: premium
    rate_limit: {name: premium, unit: day, requests_per_unit: 5, replaces: [{name: base}]}
`;

const compat = useCompat({ rules: { "config.yaml": RULES } });

function ask(...descriptors: WireDescriptor[]): Promise<WireResponse> {
  return compat.envoy.ask({ domain: "compat", descriptors });
}

const NO_LIMIT = { code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null, quota: null };

function remaining(res: WireResponse): number[] {
  return res.statuses.map((s) => s.limit_remaining);
}
describe("matching (reference GetLimit walk)", () => {
  it("gives every value of a value-less key its own counter", async () => {
    expect(remaining(await ask(d("user", "bob"), d("user", "carol"), d("user", "bob")))).toEqual([2, 2, 1]);
  });

  it("counts an empty request value under the value-less key", async () => {
    expect((await ask(d("user", ""))).statuses[0]?.current_limit?.name).toBe("per-user");
  });

  it("prefers the exact value over the value-less key", async () => {
    expect((await ask(d("user", "vip"))).statuses[0]?.current_limit?.requests_per_unit).toBe(5);
  });

  it("takes the limit of the node matched at the last entry only (depth must match)", async () => {
    const chain = (...pairs: [string, string][]): WireDescriptor => ({
      entries: pairs.map(([key, value]) => ({ key, value })),
    });
    const res = await ask(
      chain(["route", "a"]),
      chain(["route", "a"], ["client", "c1"]),
      chain(["route", "a"], ["client", "gold"]),
      chain(["route", "a"], ["client", "gold"], ["method", "GET"]),
      chain(["route", "a"], ["client", "c1"], ["extra", "x"]),
      chain(["route", "b"], ["client", "c1"]),
      chain(["client", "c1"]),
    );
    expect(res.statuses.map((s) => s.current_limit?.requests_per_unit ?? null)).toEqual([
      10,
      2,
      null,
      7,
      null,
      null,
      null,
    ]);
  });

  it.each([
    ["/api/users", 2],
    ["/api/", 2],
    ["/api/special", 4],
    ["/apix", null],
  ])("path %j: trailing * (exact value first)", async (value, rpu) => {
    expect((await ask(d("path", value))).statuses[0]?.current_limit?.requests_per_unit ?? null).toBe(rpu);
  });

  it.each([
    ["host", "a.example.com", 3],
    ["host", ".example.com", 3],
    ["host", "example.com", null],
    ["file", "/v1/users/export/all.csv", 6],
    ["file", "/v1/a/b/export/x.csv", 6],
    ["file", "/v1/users/export/all.json", null],
  ])("%s %j: leading, middle and several *", async (key, value, rpu) => {
    expect((await ask(d(key, value))).statuses[0]?.current_limit?.requests_per_unit ?? null).toBe(rpu);
  });

  it("tries a lone * before the value-less key, and matches the empty value with it", async () => {
    const res = await ask(d("svc", "anything"), d("svc", ""));
    expect(res.statuses.map((s) => s.current_limit?.requests_per_unit)).toEqual([8, 8]);
  });

  it("walks below a wildcard level into nested descriptors", async () => {
    const chain = (value: string, method: string): WireDescriptor => ({
      entries: [
        { key: "api", value },
        { key: "method", value: method },
      ],
    });
    const res = await ask(chain("v1/users", "GET"), chain("v1/users", "POST"), chain("v2/users", "GET"));
    expect(res.statuses.map((s) => s.current_limit?.requests_per_unit ?? null)).toEqual([11, 12, null]);
  });

  it("matches on the reference's composite key_value string (rule a: b_c also matches request a_b: c)", async () => {
    const res = await ask(d("a", "b_c"), d("a_b", "c"));
    expect(res.statuses.map((s) => s.current_limit?.requests_per_unit ?? null)).toEqual([13, 13]);
  });

  it("gives each value matching a wildcard its own counter", async () => {
    expect(remaining(await ask(d("path", "/api/one"), d("path", "/api/two"), d("path", "/api/one")))).toEqual([
      1, 1, 0,
    ]);
  });

  it("makes every value matching a share_threshold wildcard share one counter", async () => {
    const res = await ask(d("shared", "files/a.pdf"), d("shared", "files/b.csv"), d("shared", "files/c"));
    expect(remaining(res)).toEqual([2, 1, 0]);
    expect((await ask(d("shared", "files/zzz"))).statuses[0]?.code).toBe("OVER_LIMIT");
  });
});

describe("replaces", () => {
  it("drops a limit named in another matched limit's replaces", async () => {
    const res = await ask(d("tier", "base"), d("tier", "premium"));
    expect(res.statuses[0]).toEqual(NO_LIMIT);
    expect(res.statuses[1]?.current_limit).toEqual({ requests_per_unit: 5, unit: "DAY", name: "premium" });
    expect(res.statuses[1]?.limit_remaining).toBe(4);
    // Alone, the base rule applies (and was not counted above).
    expect(remaining(await ask(d("tier", "base")))).toEqual([0]);
  });
});
