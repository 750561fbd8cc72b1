/**
 * Black-box compatibility with envoyproxy/ratelimit, part 2: how much a request counts and which limit it counts
 * against — request- and descriptor-level hits_addend (descriptor 0 = check without counting), the request `limit`
 * override, unknown domains — plus the deliberate improvements of issue 2 item 4 (INVALID_ARGUMENT, counters that
 * never wrap at 2^32, a huge hits_addend answered). Independent client, built `node dist/main.js`, memory backend.
 */
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { useCompat } from "../helpers/compat-process.js";
import {
  callError,
  descriptor as d,
  resetAt,
  type WireDescriptor,
  type WireResponse,
} from "../helpers/envoy-client.js";

const RULES = `domain: count
descriptors:
  - key: user
    rate_limit: {name: per-user, unit: hour, requests_per_unit: 3}
  - key: big
    rate_limit: {unit: day, requests_per_unit: 4294967295}
  - key: small
    rate_limit: {unit: day, requests_per_unit: 10}
  - key: burst
    rate_limit: {unit: day, requests_per_unit: 100}
`;

const UINT32_MAX = 4_294_967_295;

const compat = useCompat({ rules: { "config.yaml": RULES } });

function hits(n: number | bigint): Pick<WireDescriptor, "hits_addend"> {
  return { hits_addend: { value: n.toString() } };
}

function ask(descriptors: WireDescriptor[], hitsAddend?: number): Promise<WireResponse> {
  return compat.envoy.ask({
    domain: "count",
    descriptors,
    ...(hitsAddend === undefined ? {} : { hits_addend: hitsAddend }),
  });
}

function summary(res: WireResponse): [string, number][] {
  return res.statuses.map((s) => [s.code, s.limit_remaining]);
}

describe("hits_addend", () => {
  it("adds the request-level hits_addend to every descriptor; 0 (unset) counts 1", async () => {
    expect(summary(await ask([d("user", "h1")], 0))).toEqual([["OK", 2]]);
    expect(summary(await ask([d("user", "h1"), d("user", "h2")], 2))).toEqual([
      ["OK", 0],
      ["OK", 1],
    ]);
  });

  it("lets a descriptor-level hits_addend override the request's, 0 meaning check without counting", async () => {
    const res = await ask([d("user", "h3", hits(0)), d("user", "h4", hits(1)), d("user", "h5")], 2);
    expect(summary(res)).toEqual([
      ["OK", 3],
      ["OK", 2],
      ["OK", 1],
    ]);
    for (let i = 0; i < 3; i++) expect(summary(await ask([d("user", "h3", hits(0))]))).toEqual([["OK", 3]]);
  });

  it("counts hits that go over the limit, so a later check sees them", async () => {
    const over = await ask([d("user", "h6")], 5);
    expect([over.overall_code, ...summary(over)]).toEqual(["OVER_LIMIT", ["OVER_LIMIT", 0]]);
    expect(summary(await ask([d("user", "h6", hits(0))]))).toEqual([["OVER_LIMIT", 0]]);
  });

  it("checks a full counter without counting: OK at the limit, OVER_LIMIT past it", async () => {
    await ask([d("user", "h7")], 3);
    expect(summary(await ask([d("user", "h7", hits(0))]))).toEqual([["OK", 0]]);
    expect(summary(await ask([d("user", "h7", hits(1))]))).toEqual([["OVER_LIMIT", 0]]);
  });
});

describe("request limit override", () => {
  it("applies an override to a descriptor that matches nothing in a known domain", async () => {
    const o = { limit: { requests_per_unit: 2, unit: "DAY" } };
    const before = Date.now();
    const first = await ask([d("tenant", "t1", o)]);
    expect(first.statuses[0]?.current_limit).toEqual({ requests_per_unit: 2, unit: "DAY", name: "" });
    expect(first.statuses[0]?.limit_remaining).toBe(1);
    expect([resetAt(before, 86_400), resetAt(Date.now(), 86_400)]).toContain(
      Number(first.statuses[0]?.duration_until_reset?.seconds),
    );
    await ask([d("tenant", "t1", o)]);
    expect(summary(await ask([d("tenant", "t1", o)]))).toEqual([["OVER_LIMIT", 0]]);
  });

  it("replaces the configured limit (and its name) and shares the counter of the same entries and unit", async () => {
    await ask([d("user", "o1"), d("user", "o1")]);
    const res = await ask([d("user", "o1", { limit: { requests_per_unit: 10, unit: "HOUR" } })]);
    expect(res.statuses[0]?.current_limit).toEqual({ requests_per_unit: 10, unit: "HOUR", name: "" });
    expect(res.statuses[0]?.limit_remaining).toBe(7);
  });

  it("answers an override of 0 requests OVER_LIMIT", async () => {
    const res = await ask([d("tenant", "zero", { limit: { requests_per_unit: 0, unit: "MINUTE" } })]);
    expect(res.overall_code).toBe("OVER_LIMIT");
  });

  it.each([
    ["SECOND", "SECOND"],
    ["MINUTE", "MINUTE"],
    ["HOUR", "HOUR"],
    ["DAY", "DAY"],
    ["MONTH", "MONTH"],
    ["YEAR", "YEAR"],
    [7, "WEEK"],
  ])("maps override unit %j to response unit %s", async (unit, expected) => {
    const res = await ask([d("tenant", `unit-${expected}`, { limit: { requests_per_unit: 9, unit } })]);
    expect(res.statuses[0]?.current_limit?.unit).toBe(expected);
  });
});

describe("concurrency (memory backend)", () => {
  it("admits exactly requests_per_unit of many concurrent calls, each remaining value once", async () => {
    const calls = Array.from({ length: 300 }, () => ask([d("burst", "c1")]));
    const results = await Promise.all(calls);
    const ok = results.filter((r) => r.overall_code === "OK");
    expect(ok).toHaveLength(100);
    expect(ok.map((r) => r.statuses[0]?.limit_remaining).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });
});

describe("unknown domain", () => {
  it("answers OK with one empty status per descriptor, overrides included", async () => {
    const res = await compat.envoy.ask({
      domain: "no-such-domain",
      descriptors: [d("user", "x"), d("user", "x", { limit: { requests_per_unit: 0, unit: "HOUR" } })],
    });
    expect(res.overall_code).toBe("OK");
    expect(summary(res)).toEqual([
      ["OK", 0],
      ["OK", 0],
    ]);
    expect(res.statuses.map((s) => [s.current_limit, s.duration_until_reset])).toEqual([
      [null, null],
      [null, null],
    ]);
  });
});

describe("deliberate improvements (issue 2 item 4)", () => {
  it.each([
    ["an empty domain", { domain: "", descriptors: [d("user", "x")] }, "rate limit domain must not be empty"],
    ["no descriptors", { domain: "count", descriptors: [] }, "rate limit descriptor list must not be empty"],
    [
      "an override with unit UNKNOWN",
      { domain: "count", descriptors: [d("user", "x", { limit: { requests_per_unit: 1, unit: "UNKNOWN" } })] },
      "unit",
    ],
  ])("answers INVALID_ARGUMENT for %s", async (_name, request, details) => {
    const err = await callError(compat.envoy.ask(request));
    expect(status[err.code]).toBe("INVALID_ARGUMENT");
    expect(err.details).toContain(details);
  });

  it("never wraps a counter at 2^32", async () => {
    expect(summary(await ask([d("big", "b1", hits(UINT32_MAX))]))).toEqual([["OK", 0]]);
    // The reference's uint32 counter would read 2^32 as 0 here and answer OK with 2^32-1 remaining.
    expect(summary(await ask([d("big", "b1")]))).toEqual([["OVER_LIMIT", 0]]);
    expect(summary(await ask([d("big", "b1", hits(0))]))).toEqual([["OVER_LIMIT", 0]]);
    expect(summary(await ask([d("small", "s1", hits(2n ** 32n + 1n))]))).toEqual([["OVER_LIMIT", 0]]);
  });

  it("answers a huge hits_addend OVER_LIMIT instead of failing, and keeps counting", async () => {
    const res = await ask([d("small", "s2", hits(2n ** 64n - 1n))]);
    expect([res.overall_code, ...summary(res)]).toEqual(["OVER_LIMIT", ["OVER_LIMIT", 0]]);
    expect(summary(await ask([d("small", "s2")]))).toEqual([["OVER_LIMIT", 0]]);
    expect(summary(await ask([d("small", "s3")], UINT32_MAX))).toEqual([["OVER_LIMIT", 0]]);
  });
});
