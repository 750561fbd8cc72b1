/**
 * Black-box compatibility with envoyproxy/ratelimit, part 1a: every DescriptorStatus field (code, current_limit with
 * name, limit_remaining, duration_until_reset), the units second to year and their epoch-aligned windows, unlimited,
 * shadow_mode and quota_mode, seen through an independent client (official Envoy protos) against the built
 * `node dist/main.js` with BACKEND_TYPE=memory. Expected values follow the reference's base_limiter.go
 * GetResponseDescriptorStatus, utilities.go CalculateReset and ratelimit.go; windows are checked against the clock
 * sampled around each call, with long units so no test sits on a window boundary.
 */
import { describe, expect, it } from "vitest";
import { useCompat } from "../helpers/compat-process.js";
import {
  descriptor as d,
  resetAt,
  type WireDescriptor,
  type WireResponse,
  type WireStatus,
} from "../helpers/envoy-client.js";

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

const compat = useCompat({ rules: { "config.yaml": RULES } });

function ask(...descriptors: WireDescriptor[]): Promise<WireResponse> {
  return compat.envoy.ask({ domain: "compat", descriptors });
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

describe("shadow_mode and quota_mode", () => {
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
