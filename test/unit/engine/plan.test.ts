import { describe, expect, it } from "vitest";
import { InvalidRequestError, NoConfigError } from "../../../src/domain/errors.js";
import type { Descriptor, Entry, RateLimitRequest } from "../../../src/domain/types.js";
import { planRequest, SLOT_NONE, SLOT_UNLIMITED } from "../../../src/engine/plan.js";
import { fixtureRuleSet, limitRule } from "./rule-set-fixture.js";

const NOW_MS = 1_700_000_065_500; // t = 1700000065.5 s
const entry = (key: string, value: string): Entry => ({ key, value });
function desc(entries: Entry[], extra: Partial<Descriptor> = {}): Descriptor {
  return { entries, limit: undefined, hits: 1, negative: false, ...extra };
}
function req(descriptors: Descriptor[], domain = "rl"): RateLimitRequest {
  return { domain, descriptors };
}

const rules = fixtureRuleSet(
  [
    { domain: "rl", entries: [{ key: "user" }], rule: limitRule({ fullKey: "rl.user", requestsPerUnit: 5 }) },
    {
      domain: "rl",
      entries: [{ key: "free", value: "yes" }],
      rule: limitRule({ fullKey: "rl.free_yes", unlimited: true }),
    },
    {
      domain: "rl",
      entries: [{ key: "tier", value: "gold" }],
      rule: limitRule({ fullKey: "rl.tier_gold", name: "gold", replaces: ["base"], unit: "hour" }),
    },
    { domain: "rl", entries: [{ key: "base" }], rule: limitRule({ fullKey: "rl.base", name: "base" }) },
    {
      domain: "rl",
      entries: [{ key: "vip" }],
      rule: limitRule({ fullKey: "rl.vip", unlimited: true, name: "vip", replaces: ["base"] }),
    },
    {
      domain: "rl",
      entries: [{ key: "path" }],
      rule: limitRule({ fullKey: "rl.path_/api/*", keyValueOverrides: ["/api/*"], unit: "second" }),
    },
  ],
  ["empty"],
);

describe("planRequest()", () => {
  it.each([
    ["an empty domain", req([desc([entry("user", "1")])], ""), "rate limit domain must not be empty"],
    ["no descriptors", req([]), "rate limit descriptor list must not be empty"],
  ])("rejects %s as an invalid request", (_label, request, message) => {
    expect(() => planRequest(request, rules, NOW_MS, "")).toThrow(new InvalidRequestError(message));
  });

  it("rejects with NoConfigError while no rule set is loaded", () => {
    expect(() => planRequest(req([desc([entry("user", "1")])]), undefined, NOW_MS, "")).toThrow(NoConfigError);
  });

  it("builds one op per counted descriptor with the reference's key and window", () => {
    const plan = planRequest(req([desc([entry("user", "42")], { hits: 3 })]), rules, NOW_MS, "p_");
    expect(plan.nowSeconds).toBe(1_700_000_065);
    expect(plan.slots).toEqual([0]);
    expect(plan.ops).toEqual([
      {
        key: "p_rl_user_42_1700000040",
        hits: 3,
        negative: false,
        limit: rules.findRule("rl", [entry("user", "42")])?.limits[0],
        nowMs: NOW_MS,
        windowStartSeconds: 1_700_000_040,
        group: 1,
      },
    ]);
  });

  it("answers every descriptor of an unknown domain with no rule, even overrides", () => {
    const plan = planRequest(
      req(
        [desc([entry("user", "1")]), desc([entry("x", "1")], { limit: { requestsPerUnit: 1, unit: "second" } })],
        "nope",
      ),
      rules,
      NOW_MS,
      "",
    );
    expect(plan.domainKnown).toBe(false);
    expect(plan.slots).toEqual([SLOT_NONE, SLOT_NONE]);
    expect(plan.ops).toEqual([]);
  });

  it.each([
    ["no matching rule", [entry("other", "1")], SLOT_NONE],
    ["a deeper request than the rule", [entry("user", "1"), entry("x", "2")], SLOT_NONE],
    ["an unlimited rule", [entry("free", "yes")], SLOT_UNLIMITED],
    ["a limited rule", [entry("user", "1")], 0],
  ])("gives %s its slot", (_label, entries, slot) => {
    expect(planRequest(req([desc(entries)]), rules, NOW_MS, "").slots).toEqual([slot]);
  });

  it("uses a request override's rpu and unit, with shadow and quota off, on a domain with no such rule", () => {
    const plan = planRequest(
      req(
        [desc([entry("ip", "1.2.3.4"), entry("path", "")], { limit: { requestsPerUnit: 42, unit: "hour" } })],
        "empty",
      ),
      rules,
      NOW_MS,
      "",
    );
    expect(plan.ops[0]?.key).toBe("empty_ip_1.2.3.4_path__1699999200");
    expect(plan.ops[0]?.limit).toMatchObject({ requestsPerUnit: 42, unit: "hour", algorithm: "fixed_window" });
    expect(plan.rules[0]).toMatchObject({ fullKey: "empty.ip_1.2.3.4.path", shadowMode: false, quotaMode: false });
    expect(plan.rules[0]?.limits[0]).toMatchObject({ requestsPerUnit: 42, unit: "hour", name: undefined });
  });

  it("lets an override take precedence over a configured rule of the same entries, sharing its key", () => {
    const plain = planRequest(req([desc([entry("user", "7")])]), rules, NOW_MS, "");
    const over = planRequest(
      req([desc([entry("user", "7")], { limit: { requestsPerUnit: 99, unit: "minute" } })]),
      rules,
      NOW_MS,
      "",
    );
    expect(over.ops[0]?.limit.requestsPerUnit).toBe(99);
    expect(over.ops[0]?.key).toBe(plain.ops[0]?.key);
  });

  it("drops a limited rule that another matched rule replaces", () => {
    const plan = planRequest(req([desc([entry("base", "x")]), desc([entry("tier", "gold")])]), rules, NOW_MS, "");
    expect(plan.slots).toEqual([SLOT_NONE, 0]);
    expect(plan.rules[0]).toBeUndefined();
    expect(plan.ops.map((o) => o.key)).toEqual(["rl_tier_gold_1699999200"]);
  });

  it("applies replaces declared by an unlimited rule", () => {
    const plan = planRequest(req([desc([entry("vip", "1")]), desc([entry("base", "x")])]), rules, NOW_MS, "");
    expect(plan.slots).toEqual([SLOT_UNLIMITED, SLOT_NONE]);
  });

  it("keeps a rule that is not replaced by anything in the request", () => {
    expect(planRequest(req([desc([entry("base", "x")])]), rules, NOW_MS, "").slots).toEqual([0]);
  });

  it("writes the shared wildcard pattern instead of the value", () => {
    const plan = planRequest(req([desc([entry("path", "/api/users")])]), rules, NOW_MS, "");
    expect(plan.ops[0]?.key).toBe("rl_path_/api/*_1700000065");
  });

  it("passes check-only and refund hits through to the op", () => {
    const plan = planRequest(
      req([desc([entry("user", "1")], { hits: 0 }), desc([entry("user", "2")], { hits: 4, negative: true })]),
      rules,
      NOW_MS,
      "",
    );
    expect(plan.ops.map((o) => [o.hits, o.negative])).toEqual([
      [0, false],
      [4, true],
    ]);
  });
});
