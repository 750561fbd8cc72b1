/**
 * Black-box compatibility with envoyproxy/ratelimit, part 1: which rule a descriptor gets and every DescriptorStatus
 * field, seen through an independent client (official Envoy protos) against the built `node dist/main.js` with
 * BACKEND_TYPE=memory. Expected values follow the reference's README examples and sources (config_impl.go GetLimit,
 * base_limiter.go GetResponseDescriptorStatus, utilities.go CalculateReset); windows are checked against the clock
 * sampled around each call, with long units so no test sits on a window boundary.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEnvoyClient,
  type EnvoyClient,
  resetAt,
  type WireDescriptor,
  type WireResponse,
  type WireStatus,
} from "../helpers/envoy-client.js";
import { buildDist, type RunningSluice, startSluice } from "../helpers/sluice-process.js";

const RULES = `domain: compat
descriptors:
  - key: user
    rate_limit: {name: per-user, unit: hour, requests_per_unit: 3}
  - key: user
    value: vip
    rate_limit: {unit: hour, requests_per_unit: 5}
  - key: user
    value: blocked
    rate_limit: {unit: hour, requests_per_unit: 0}
  - key: free
    rate_limit: {unlimited: true}
  - key: whitelisted
  - key: unit
    value: second
    rate_limit: {unit: second, requests_per_unit: 1}
  - {key: unit, value: minute, rate_limit: {unit: minute, requests_per_unit: 1}}
  - {key: unit, value: hour, rate_limit: {unit: HOUR, requests_per_unit: 1}}
  - {key: unit, value: day, rate_limit: {unit: Day, requests_per_unit: 1}}
  - {key: unit, value: week, rate_limit: {unit: week, requests_per_unit: 1}}
  - {key: unit, value: month, rate_limit: {unit: month, requests_per_unit: 1}}
  - {key: unit, value: year, rate_limit: {unit: year, requests_per_unit: 1}}
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
  - key: shadow
    shadow_mode: true
    rate_limit: {unit: day, requests_per_unit: 1}
  - key: quota
    quota_mode: true
    rate_limit: {unit: day, requests_per_unit: 1}
`;

const DAY = 86_400;
const HOUR = 3_600;
const UINT32_MAX = 4_294_967_295;

let sluice: RunningSluice;
let envoy: EnvoyClient;

beforeAll(async () => {
  buildDist();
  sluice = await startSluice({ rules: { "config.yaml": RULES } });
  envoy = createEnvoyClient(sluice.grpc);
}, 60_000);

afterAll(async () => {
  envoy?.close();
  await sluice?.stop();
});

function d(key: string, value: string, extra: Omit<WireDescriptor, "entries"> = {}): WireDescriptor {
  return { entries: [{ key, value }], ...extra };
}

function ask(...descriptors: WireDescriptor[]): Promise<WireResponse> {
  return envoy.ask({ domain: "compat", descriptors });
}

/** One call, with the reset (seconds) a window of `divider` has at the instants just before and after it. */
async function timed(
  divider: number,
  ...descriptors: WireDescriptor[]
): Promise<{ res: WireResponse; resets: number[] }> {
  const before = Date.now();
  const res = await ask(...descriptors);
  return { res, resets: [resetAt(before, divider), resetAt(Date.now(), divider)] };
}

const NO_LIMIT = { code: "OK", current_limit: null, limit_remaining: 0, duration_until_reset: null, quota: null };

function remaining(res: WireResponse): number[] {
  return res.statuses.map((s) => s.limit_remaining);
}

describe("DescriptorStatus fields", () => {
  it("counts down with current_limit {requests_per_unit, unit, name}, then OVER_LIMIT with 0 remaining", async () => {
    const seen: WireStatus[] = [];
    let resets: number[] = [];
    for (let i = 0; i < 4; i++) {
      const call = await timed(HOUR, d("user", "alice"));
      seen.push(call.res.statuses[0] as WireStatus);
      resets = call.resets;
      expect(call.res.overall_code).toBe(i < 3 ? "OK" : "OVER_LIMIT");
    }
    expect(seen.map((s) => [s.code, s.limit_remaining])).toEqual([
      ["OK", 2],
      ["OK", 1],
      ["OK", 0],
      ["OVER_LIMIT", 0],
    ]);
    const last = seen[3] as WireStatus;
    expect(last.current_limit).toEqual({ requests_per_unit: 3, unit: "HOUR", name: "per-user" });
    expect(last.duration_until_reset?.nanos).toBe(0);
    expect(resets).toContain(Number(last.duration_until_reset?.seconds));
  });

  it("leaves current_limit.name empty for a rule without a name", async () => {
    const { statuses } = await ask(d("user", "vip"));
    expect(statuses[0]?.current_limit).toEqual({ requests_per_unit: 5, unit: "HOUR", name: "" });
  });

  it("answers a descriptor no rule matches OK with no limit, no remaining and no reset", async () => {
    const res = await ask(d("nothing", "here"), d("whitelisted", "x"));
    expect(res.overall_code).toBe("OK");
    expect(res.statuses).toEqual([NO_LIMIT, NO_LIMIT]);
  });

  it("answers unlimited OK with limit_remaining = 2^32-1 and no current_limit", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await ask(d("free", "x"))).statuses[0]).toEqual({ ...NO_LIMIT, limit_remaining: UINT32_MAX });
    }
  });

  it("answers requests_per_unit 0 OVER_LIMIT from the first request", async () => {
    const res = await ask(d("user", "blocked"));
    expect([res.overall_code, res.statuses[0]?.code, res.statuses[0]?.limit_remaining]).toEqual([
      "OVER_LIMIT",
      "OVER_LIMIT",
      0,
    ]);
  });

  it("answers several descriptors in order, OVER_LIMIT overall when any one is over", async () => {
    await ask(d("user", "mixed"), d("user", "mixed"), d("user", "mixed"));
    const res = await ask(d("nothing", "x"), d("free", "y"), d("user", "mixed-2"), d("user", "mixed"));
    expect(res.overall_code).toBe("OVER_LIMIT");
    expect(res.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
      ["OK", 0],
      ["OK", UINT32_MAX],
      ["OK", 2],
      ["OVER_LIMIT", 0],
    ]);
  });

  it("counts a descriptor repeated in one request once per occurrence, in order", async () => {
    expect(remaining(await ask(d("user", "twice"), d("user", "twice")))).toEqual([2, 1]);
  });
});

describe("units and windows (epoch-aligned; MONTH = 30 days, YEAR = 365 days, WEEK = 7 on the wire)", () => {
  it.each([
    ["minute", "MINUTE", 60],
    ["hour", "HOUR", 3_600],
    ["day", "DAY", 86_400],
    ["week", "WEEK", 604_800],
    ["month", "MONTH", 2_592_000],
    ["year", "YEAR", 31_536_000],
  ])("%s: unit %s, duration_until_reset = divider - now %% divider", async (value, unit, divider) => {
    const { res, resets } = await timed(divider, d("unit", value));
    const status = res.statuses[0] as WireStatus;
    expect(status.current_limit).toEqual({ requests_per_unit: 1, unit, name: "" });
    expect(resets).toContain(Number(status.duration_until_reset?.seconds));
    expect(status.duration_until_reset?.nanos).toBe(0);
  });

  it("second: 1 s to reset, and a new window at the next second", async () => {
    // The pair of calls must fall in one second; a call straddling a boundary is retried once.
    let pair: WireResponse[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const t0 = Math.floor(Date.now() / 1000);
      pair = [await ask(d("unit", "second")), await ask(d("unit", "second"))];
      if (Math.floor(Date.now() / 1000) === t0) break;
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    }
    expect(pair.map((r) => r.statuses[0]?.code)).toEqual(["OK", "OVER_LIMIT"]);
    expect(pair[1]?.statuses[0]?.current_limit?.unit).toBe("SECOND");
    expect(pair[1]?.statuses[0]?.duration_until_reset).toEqual({ seconds: "1", nanos: 0 });
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    expect((await ask(d("unit", "second"))).statuses[0]?.code).toBe("OK");
  });
});

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

describe("replaces, shadow_mode, quota_mode", () => {
  it("drops a limit named in another matched limit's replaces", async () => {
    const res = await ask(d("tier", "base"), d("tier", "premium"));
    expect(res.statuses[0]).toEqual(NO_LIMIT);
    expect(res.statuses[1]?.current_limit).toEqual({ requests_per_unit: 5, unit: "DAY", name: "premium" });
    expect(res.statuses[1]?.limit_remaining).toBe(4);
    // Alone, the base rule applies (and was not counted above).
    expect(remaining(await ask(d("tier", "base")))).toEqual([0]);
  });

  it("answers a shadow_mode rule over its limit OK, with its limit, 0 remaining and the reset", async () => {
    await ask(d("shadow", "s1"));
    const { res, resets } = await timed(DAY, d("shadow", "s1"));
    expect(res.overall_code).toBe("OK");
    const status = res.statuses[0] as WireStatus;
    expect([status.code, status.limit_remaining, status.current_limit?.requests_per_unit]).toEqual(["OK", 0, 1]);
    expect(resets).toContain(Number(status.duration_until_reset?.seconds));
  });

  it("answers OVER_LIMIT overall only when every quota_mode descriptor is over", async () => {
    await ask(d("quota", "q1"));
    const mixed = await ask(d("quota", "q1"), d("quota", "q2"));
    expect(mixed.overall_code).toBe("OK");
    expect(mixed.statuses.map((s) => s.code)).toEqual(["OVER_LIMIT", "OK"]);
    const all = await ask(d("quota", "q1"), d("quota", "q2"));
    expect(all.overall_code).toBe("OVER_LIMIT");
    const withRegular = await ask(d("quota", "q3"), d("user", "blocked"));
    expect(withRegular.overall_code).toBe("OVER_LIMIT");
  });
});
