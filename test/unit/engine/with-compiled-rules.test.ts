/** The engine over rule sets compiled from YAML by src/rules, end to end with the memory store. */
import { describe, expect, it } from "vitest";
import type { Descriptor, Entry } from "../../../src/domain/types.js";
import { DEFAULT_ENGINE_OPTIONS } from "../../../src/engine/options.js";
import { createRateLimiter } from "../../../src/engine/rate-limiter.js";
import { compileRuleSet } from "../../../src/rules/index.js";
import { createMemoryStore } from "../../../src/store/memory-store.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const YAML = `
domain: rl
descriptors:
  - key: path
    value: "/api/*"
    share_threshold: true
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 1, name: per-user }
  - key: tier
    value: gold
    rate_limit: { unit: minute, requests_per_unit: 5, name: gold, replaces: [{ name: per-user }] }
  - key: internal
    rate_limit: { unlimited: true }
  - key: backend
    value: a
    metadata: { service: svc-a }
    rate_limit: { unit: minute, requests_per_unit: 1 }
`;

function setup() {
  const clock = new FakeClock(1_700_000_040_000);
  const ruleSet = compileRuleSet([{ name: "config.yaml", text: YAML }], { mergeDomainConfig: false });
  const store = createMemoryStore({ clock });
  const limiter = createRateLimiter({
    rules: { current: () => ruleSet },
    store,
    clock,
    options: { ...DEFAULT_ENGINE_OPTIONS, responseDynamicMetadata: true },
  });
  const decide = (...descriptors: Entry[][]) =>
    limiter.decide({
      domain: "rl",
      descriptors: descriptors.map((entries): Descriptor => ({ entries, limit: undefined, hits: 1, negative: false })),
    });
  return { decide, store };
}

const e = (key: string, value: string): Entry => ({ key, value });

describe("createRateLimiter() with compiled rules", () => {
  it("shares one counter between every value a share_threshold wildcard matches", async () => {
    const { decide } = setup();
    expect((await decide([e("path", "/api/a")])).overallCode).toBe("OK");
    expect((await decide([e("path", "/api/b")])).overallCode).toBe("OK");
    expect((await decide([e("path", "/api/c")])).overallCode).toBe("OVER_LIMIT");
  });

  it("gives each value of a value-less key its own counter, named in current_limit", async () => {
    const { decide } = setup();
    expect((await decide([e("user", "1")])).statuses[0]).toMatchObject({
      code: "OK",
      currentLimit: { requestsPerUnit: 1, unit: "minute", name: "per-user" },
    });
    expect((await decide([e("user", "2")])).overallCode).toBe("OK");
    expect((await decide([e("user", "1")])).overallCode).toBe("OVER_LIMIT");
  });

  it("drops a rule replaced by another matched rule", async () => {
    const { decide } = setup();
    await decide([e("user", "1")]);
    const d = await decide([e("user", "1")], [e("tier", "gold")]);
    expect(d.overallCode).toBe("OK");
    expect(d.statuses[0]?.currentLimit).toBeUndefined();
  });

  it("answers unlimited rules without counting", async () => {
    const { decide, store } = setup();
    const d = await decide([e("internal", "x")]);
    expect(d.statuses[0]?.limitRemaining).toBe(4_294_967_295);
    expect(store.size).toBe(0);
  });

  it("returns a passing rule's metadata, and not once it is over", async () => {
    const { decide } = setup();
    expect((await decide([e("backend", "a")])).dynamicMetadata?.["metadata"]).toEqual({ service: "svc-a" });
    expect((await decide([e("backend", "a")])).dynamicMetadata?.["metadata"]).toBeUndefined();
  });

  it("reports detailed_metric and value_to_metric stats under keys with the request values (reference GetLimit)", async () => {
    const clock = new FakeClock(1_700_000_040_000);
    const yaml = [
      "domain: m",
      "descriptors:",
      "  - {key: plain, rate_limit: {unit: minute, requests_per_unit: 5}}",
      "  - {key: user, detailed_metric: true, rate_limit: {unit: minute, requests_per_unit: 5}}",
      "  - key: route",
      "    value_to_metric: true",
      "    descriptors: [{key: client, rate_limit: {unit: minute, requests_per_unit: 5}}]",
    ].join("\n");
    const ruleSet = compileRuleSet([{ name: "m.yaml", text: yaml }], { mergeDomainConfig: false });
    const keys: (string | undefined)[] = [];
    const limiter = createRateLimiter({
      rules: { current: () => ruleSet },
      store: createMemoryStore({ clock }),
      clock,
      options: DEFAULT_ENGINE_OPTIONS,
      observer: {
        descriptorDecided: (o) => keys.push(o.metricKey),
        domainNotFound() {},
        globalShadowMode() {},
        storeApplied() {},
        now: () => 0,
      },
    });
    const one = (...entries: Entry[]): Descriptor => ({ entries, limit: undefined, hits: 1, negative: false });
    await limiter.decide({
      domain: "m",
      descriptors: [one(e("plain", "x")), one(e("user", "alice")), one(e("route", "r1"), e("client", "c1"))],
    });
    expect(keys).toEqual([undefined, "m.user_alice", "m.route_r1.client"]);
  });
});
