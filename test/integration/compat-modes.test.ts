/**
 * Black-box compatibility with envoyproxy/ratelimit, part 3: the environment switches that change answers —
 * LIMIT_RESPONSE_HEADERS_ENABLED with custom LIMIT_*_HEADER names, RESPONSE_DYNAMIC_METADATA with rule `metadata`,
 * NEAR_LIMIT_RATIO (visible only in the debug port's /stats), SHADOW_MODE, QUOTA_MODE and
 * STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT. One built `node dist/main.js` per setting, memory backend, independent
 * client. Expected values follow the reference's ratelimit.go (headers, metadata, overall code), base_limiter.go
 * (stats split) and fixed_cache_impl.go (increment stopping).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompatInstance, startCompat } from "../helpers/compat-process.js";
import {
  descriptor as d,
  resetAt,
  structToJson,
  type WireDescriptor,
  type WireResponse,
} from "../helpers/envoy-client.js";

const EXTRAS_RULES = `domain: extras
descriptors:
  - key: a
    rate_limit: {unit: day, requests_per_unit: 10}
    metadata: {tier: {name: a, level: 1}, owner: team-a}
  - key: b
    rate_limit: {unit: hour, requests_per_unit: 4}
    metadata: {tier: {extra: b, name: ignored}, owner: team-b, other: x}
  - key: unl
    rate_limit: {unlimited: true}
    metadata: {unl: true}
  - key: near
    rate_limit: {unit: day, requests_per_unit: 10}
  - key: shadow
    shadow_mode: true
    rate_limit: {unit: day, requests_per_unit: 1}
  - key: detailed
    detailed_metric: true
    rate_limit: {unit: day, requests_per_unit: 5}
`;

const SIMPLE_RULES = `domain: modes
descriptors:
  - key: one
    rate_limit: {unit: day, requests_per_unit: 1}
  - key: two
    rate_limit: {unit: day, requests_per_unit: 2}
  - key: ten
    rate_limit: {unit: day, requests_per_unit: 10}
`;

const instances: CompatInstance[] = [];
let extras: CompatInstance;
let shadow: CompatInstance;
let quota: CompatInstance;
let stop: CompatInstance;

async function start(rules: string, env: Record<string, string>): Promise<CompatInstance> {
  const instance = await startCompat({ rules: { "config.yaml": rules }, env });
  instances.push(instance);
  return instance;
}

beforeAll(async () => {
  [extras, shadow, quota, stop] = await Promise.all([
    start(EXTRAS_RULES, {
      LIMIT_RESPONSE_HEADERS_ENABLED: "true",
      LIMIT_LIMIT_HEADER: "X-Quota-Limit",
      LIMIT_REMAINING_HEADER: "X-Quota-Left",
      LIMIT_RESET_HEADER: "X-Quota-Reset",
      RESPONSE_DYNAMIC_METADATA: "true",
      NEAR_LIMIT_RATIO: "0.5",
    }),
    start(SIMPLE_RULES, { SHADOW_MODE: "true" }),
    start(SIMPLE_RULES, { QUOTA_MODE: "true" }),
    start(SIMPLE_RULES, { STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT: "true" }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const i of instances.splice(0)) await i.stop();
});

function headers(res: WireResponse): Record<string, string> {
  return Object.fromEntries(res.response_headers_to_add.map((h) => [h.key, h.value]));
}

describe("LIMIT_RESPONSE_HEADERS_ENABLED with custom header names", () => {
  const ask = (...ds: WireDescriptor[]) => extras.envoy.ask({ domain: "extras", descriptors: ds });

  it("reports the descriptor closest to its limit: its limit, remaining and seconds to reset", async () => {
    const before = Date.now();
    const res = await ask(d("a", "h1"), d("b", "h1"));
    const h = headers(res);
    expect(Object.keys(h).sort()).toEqual(["X-Quota-Left", "X-Quota-Limit", "X-Quota-Reset"]);
    expect([h["X-Quota-Limit"], h["X-Quota-Left"]]).toEqual(["4", "3"]);
    expect([resetAt(before, 3_600), resetAt(Date.now(), 3_600)].map(String)).toContain(h["X-Quota-Reset"]);
    expect(res.request_headers_to_add).toEqual([]);
  });

  it("reports an over-limit descriptor whatever the others' remaining", async () => {
    for (let i = 0; i < 4; i++) await ask(d("b", "h2"));
    const res = await ask(d("b", "h2"), d("a", "h2"));
    expect(res.overall_code).toBe("OVER_LIMIT");
    expect([headers(res)["X-Quota-Limit"], headers(res)["X-Quota-Left"]]).toEqual(["4", "0"]);
  });

  it("adds no headers when no descriptor has a limit (unmatched or unlimited)", async () => {
    expect((await ask(d("none", "x"), d("unl", "x"))).response_headers_to_add).toEqual([]);
  });
});

describe("RESPONSE_DYNAMIC_METADATA", () => {
  it("echoes domain and descriptors and deep-merges the metadata of the descriptors that passed", async () => {
    const res = await extras.envoy.ask({ domain: "extras", descriptors: [d("a", "m1"), d("b", "m1")] });
    expect(structToJson(res.dynamic_metadata)).toEqual({
      domain: "extras",
      descriptors: [{ entries: ["a=m1"] }, { entries: ["b=m1"] }],
      metadata: { tier: { name: "a", level: 1, extra: "b" }, owner: "team-a", other: "x" },
    });
  });

  it("carries hits_addend (request and descriptor) and the override, and skips over-limit and unlimited metadata", async () => {
    for (let i = 0; i < 4; i++) await extras.envoy.ask({ domain: "extras", descriptors: [d("b", "m2")] });
    const res = await extras.envoy.ask({
      domain: "extras",
      hits_addend: 2,
      descriptors: [
        d("b", "m2"),
        d("unl", "m2"),
        d("a", "m2", { hits_addend: { value: "0" } }),
        d("x", "m2", { limit: { requests_per_unit: 10, unit: "MINUTE" } }),
      ],
    });
    const meta = structToJson(res.dynamic_metadata) as Record<string, unknown>;
    expect(meta["hitsAddend"]).toBe(2);
    expect(meta["metadata"]).toEqual({ tier: { name: "a", level: 1 }, owner: "team-a" });
    const descriptors = meta["descriptors"] as Record<string, unknown>[];
    expect(descriptors.map((x) => x["entries"])).toEqual([["b=m2"], ["unl=m2"], ["a=m2"], ["x=m2"]]);
    expect(descriptors[2]?.["hitsAddend"]).toBe(0);
    expect(descriptors[3]?.["limit"]).toMatch(/^requests_per_unit:\s*10\s+unit:\s*MINUTE$/);
    expect(descriptors.map((x) => Object.keys(x).sort())).toEqual([
      ["entries"],
      ["entries"],
      ["entries", "hitsAddend"],
      ["entries", "limit"],
    ]);
  });
});

describe("stats on the debug port (reference names)", () => {
  it("splits hits into within_limit, near_limit (NEAR_LIMIT_RATIO) and over_limit exactly", async () => {
    const ask = (extra: Omit<WireDescriptor, "entries"> = {}) =>
      extras.envoy.ask({ domain: "extras", descriptors: [d("near", "n", extra)] });
    for (let i = 0; i < 7; i++) await ask(); // threshold floor(10 * 0.5) = 5: hits 6 and 7 are near
    await ask({ hits_addend: { value: "5" } }); // 7 -> 12: 3 near (8..10), 2 over
    await ask(); // already over: 1 over
    const stats = await extras.sluice.stats();
    const get = (name: string) => stats.get(`ratelimit.service.rate_limit.extras.near.${name}`) ?? 0;
    expect(["total_hits", "within_limit", "near_limit", "over_limit"].map(get)).toEqual([13, 7, 5, 3]);
  });

  it("counts shadow_mode hits as the over-limit part only", async () => {
    const res = await extras.envoy.ask({
      domain: "extras",
      descriptors: [d("shadow", "s", { hits_addend: { value: "3" } })],
    });
    expect(res.statuses[0]?.code).toBe("OK");
    const stats = await extras.sluice.stats();
    expect(stats.get("ratelimit.service.rate_limit.extras.shadow.over_limit")).toBe(2);
    expect(stats.get("ratelimit.service.rate_limit.extras.shadow.shadow_mode")).toBe(2);
  });

  it("names the stats of a detailed_metric rule after the request values, and domain_not_found per descriptor", async () => {
    await extras.envoy.ask({ domain: "extras", descriptors: [d("detailed", "v1"), d("detailed", "v2")] });
    await extras.envoy.ask({ domain: "elsewhere", descriptors: [d("k", "v"), d("k", "w")] });
    const stats = await extras.sluice.stats();
    expect(stats.get("ratelimit.service.rate_limit.extras.detailed_v1.total_hits")).toBe(1);
    expect(stats.get("ratelimit.service.rate_limit.extras.detailed_v2.within_limit")).toBe(1);
    expect(stats.get("ratelimit.service.rate_limit.elsewhere.domain_not_found")).toBe(2);
  });
});

describe("SHADOW_MODE=true", () => {
  it("answers OK overall but keeps each descriptor's OVER_LIMIT status, counting global_shadow_mode", async () => {
    const ask = () => shadow.envoy.ask({ domain: "modes", descriptors: [d("one", "x"), d("ten", "x")] });
    await ask();
    const res = await ask();
    expect(res.overall_code).toBe("OK");
    expect(res.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
      ["OVER_LIMIT", 0],
      ["OK", 8],
    ]);
    expect((await shadow.sluice.stats()).get("ratelimit.service.global_shadow_mode")).toBe(1);
    const http = await fetch(`${shadow.sluice.http}/json`, {
      method: "POST",
      body: JSON.stringify({ domain: "modes", descriptors: [{ entries: [{ key: "one", value: "x" }] }] }),
    });
    expect(http.status).toBe(200);
    expect(((await http.json()) as { overallCode: string }).overallCode).toBe("OK");
  });
});

describe("QUOTA_MODE=true", () => {
  it("treats every rule as quota_mode: OVER_LIMIT overall only when all descriptors are over", async () => {
    const ask = (...ds: WireDescriptor[]) => quota.envoy.ask({ domain: "modes", descriptors: ds });
    await ask(d("one", "q"));
    const mixed = await ask(d("one", "q"), d("ten", "q"));
    expect([mixed.overall_code, ...mixed.statuses.map((s) => s.code)]).toEqual(["OK", "OVER_LIMIT", "OK"]);
    const alone = await ask(d("one", "q"));
    expect(alone.overall_code).toBe("OVER_LIMIT");
  });
});

describe("STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT=true", () => {
  const ask = (...ds: WireDescriptor[]) => stop.envoy.ask({ domain: "modes", descriptors: ds });
  const summary = (res: WireResponse) => res.statuses.map((s) => [s.code, s.limit_remaining]);

  it("increments only the keys that would go over when one would, so the others keep their budget", async () => {
    expect(summary(await ask(d("two", "s1"), d("ten", "s1")))).toEqual([
      ["OK", 1],
      ["OK", 9],
    ]);
    await ask(d("two", "s1"), d("ten", "s1"));
    const third = await ask(d("two", "s1"), d("ten", "s1"));
    expect(third.overall_code).toBe("OVER_LIMIT");
    expect(summary(third)).toEqual([
      ["OVER_LIMIT", 0],
      ["OK", 8],
    ]);
    expect(summary(await ask(d("ten", "s1")))).toEqual([["OK", 7]]);
  });

  it("counts a check-only descriptor on a counter already over as going over, stopping the others", async () => {
    await ask(d("one", "s4"), d("one", "s4"));
    const res = await ask(d("one", "s4", { hits_addend: { value: "0" } }), d("ten", "s4"));
    expect(summary(res)).toEqual([
      ["OVER_LIMIT", 0],
      ["OK", 10],
    ]);
  });

  it("increments every key when none would go over", async () => {
    expect(summary(await ask(d("ten", "s2"), d("ten", "s3")))).toEqual([
      ["OK", 9],
      ["OK", 9],
    ]);
    expect(summary(await ask(d("ten", "s2")))).toEqual([["OK", 8]]);
  });
});
