import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { DescriptorOutcome } from "../../../src/domain/ports.js";
import type { LimitRule } from "../../../src/domain/types.js";
import { createStats, formatStats } from "../../../src/telemetry/stats.js";
import { limitRule } from "../engine/rule-set-fixture.js";

function rule(fullKey: string): LimitRule {
  return limitRule({ fullKey });
}

function outcome(fullKey: string, over: Partial<DescriptorOutcome> = {}): DescriptorOutcome {
  const r = rule(fullKey);
  return {
    domain: fullKey.split(".")[0] ?? "",
    rule: r,
    limit: r.limits[0] as DescriptorOutcome["limit"],
    hits: 3,
    overLimitHits: 1,
    nearLimitHits: 1,
    withinLimitHits: 2,
    overLimitWithLocalCache: false,
    shadowMode: false,
    ...over,
  };
}

/** A full garbage collection, without starting node with --expose-gc. */
function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

describe("createStats()", () => {
  it("counts descriptor outcomes under the reference's stat names", () => {
    const stats = createStats();
    stats.descriptorDecided(outcome("d.key_value"));
    stats.descriptorDecided(
      outcome("d.key_value", { overLimitWithLocalCache: true, shadowMode: true, overLimitHits: 3, withinLimitHits: 0 }),
    );
    expect(Object.fromEntries(stats.snapshot())).toEqual({
      "ratelimit.service.rate_limit.d.key_value.total_hits": 6,
      "ratelimit.service.rate_limit.d.key_value.over_limit": 4,
      "ratelimit.service.rate_limit.d.key_value.near_limit": 2,
      "ratelimit.service.rate_limit.d.key_value.within_limit": 2,
      "ratelimit.service.rate_limit.d.key_value.over_limit_with_local_cache": 3,
      "ratelimit.service.rate_limit.d.key_value.shadow_mode": 3,
    });
  });

  it("counts only the over-limit part of a shadow-mode rule's hits as shadow_mode (reference increaseShadowModeStats)", () => {
    const stats = createStats();
    // 3 hits on a counter at 0 with limit 1: 2 are over the limit, so 2 are shadow_mode.
    stats.descriptorDecided(
      outcome("d.shadow", { shadowMode: true, overLimitHits: 2, nearLimitHits: 1, withinLimitHits: 0 }),
    );
    const snap = Object.fromEntries(stats.snapshot());
    expect(snap["ratelimit.service.rate_limit.d.shadow.shadow_mode"]).toBe(2);
    expect(snap["ratelimit.service.rate_limit.d.shadow.over_limit"]).toBe(2);
  });

  it("counts service-level stats", () => {
    const stats = createStats();
    stats.domainNotFound("nope");
    stats.globalShadowMode();
    stats.callError("redis_error");
    stats.callError("service_error");
    stats.request();
    stats.addGauge("ratelimit.service.config_load_success", () => 4);
    expect(Object.fromEntries(stats.snapshot())).toEqual({
      "ratelimit.service.rate_limit.nope.domain_not_found": 1,
      "ratelimit.service.global_shadow_mode": 1,
      "ratelimit.service.call.should_rate_limit.redis_error": 1,
      "ratelimit.service.call.should_rate_limit.service_error": 1,
      "ratelimit_server.ShouldRateLimit.total_requests": 1,
      "ratelimit.service.config_load_success": 4,
    });
  });

  it("sanitises : and | in stat names", () => {
    const stats = createStats();
    stats.domainNotFound("a:b|c");
    expect(stats.snapshot()[0]?.[0]).toBe("ratelimit.service.rate_limit.a_b_c.domain_not_found");
  });

  it("folds stat prefixes beyond maxKeys into __other__", () => {
    const stats = createStats({ maxKeys: 2 });
    for (const key of ["d.ip_1", "d.ip_2", "d.ip_3", "d.ip_4", "d.ip_1"]) {
      stats.descriptorDecided(outcome(key, { overLimitHits: 0, nearLimitHits: 0, withinLimitHits: 0 }));
    }
    stats.domainNotFound("unknown-domain");
    expect(Object.fromEntries(stats.snapshot())).toEqual({
      "ratelimit.service.rate_limit.d.ip_1.total_hits": 6,
      "ratelimit.service.rate_limit.d.ip_2.total_hits": 3,
      "ratelimit.service.rate_limit.__other__.total_hits": 6,
      "ratelimit.service.rate_limit.__other__.domain_not_found": 1,
    });
  });

  it("keeps at most maxValuesPerRule request-valued keys per rule and counts the rest under <rule>.__other__", () => {
    const stats = createStats({ maxValuesPerRule: 2 });
    const ipRule = rule("d.ip");
    for (const ip of ["1", "2", "3", "4", "1"]) {
      stats.descriptorDecided({ ...outcome("d.ip"), rule: ipRule, metricKey: `d.ip_${ip}` });
    }
    expect(Object.fromEntries(stats.snapshot().filter(([n]) => n.endsWith("total_hits")))).toEqual({
      "ratelimit.service.rate_limit.d.ip_1.total_hits": 6,
      "ratelimit.service.rate_limit.d.ip_2.total_hits": 3,
      "ratelimit.service.rate_limit.d.ip.__other__.total_hits": 6,
    });
  });

  it("bounds memory for 1,000,000 distinct client IPs on one detailed_metric rule", () => {
    const stats = createStats();
    const ipRule = rule("d.remote_address");
    const gc = exposeGc();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      stats.descriptorDecided({ ...outcome("d.remote_address"), rule: ipRule, metricKey: `d.remote_address_${ip}` });
    }
    const prefixes = [...stats.prefixes()].length;
    expect(prefixes).toBe(1_001); // the first 1,000 values and the rule's __other__
    const snap = Object.fromEntries(stats.snapshot());
    expect(snap["ratelimit.service.rate_limit.d.remote_address.__other__.total_hits"]).toBe(999_000 * 3);
    // After a full GC only what the store keeps is left: 1,000 keys, not 1,000,000 (which would take over 100 MB).
    gc();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(10 * 1024 * 1024);
  }, 60_000);

  it("replaces control characters in stat names, so no request value reaches statsd or Prometheus raw", () => {
    const stats = createStats();
    stats.domainNotFound("evil\nname\r\u0000x\u007f");
    stats.descriptorDecided({ ...outcome("d.k"), metricKey: "d.k_a\nratelimit.fake:1|c" });
    const names = stats.snapshot().map(([n]) => n);
    expect(names).toContain("ratelimit.service.rate_limit.evil_name__x_.domain_not_found");
    expect(names).toContain("ratelimit.service.rate_limit.d.k_a_ratelimit.fake_1_c.total_hits");
    for (const n of names) expect(n).not.toMatch(/[\p{Cc}:|]/u);
  });

  it("returns stats sorted by name", () => {
    const stats = createStats();
    stats.request();
    stats.globalShadowMode();
    stats.domainNotFound("a");
    const names = stats.snapshot().map(([n]) => n);
    expect(names).toEqual([...names].sort());
  });
});

describe("formatStats()", () => {
  it("writes one `name: value` line per stat", () => {
    expect(
      formatStats([
        ["a.b", 1],
        ["c", 22],
      ]),
    ).toBe("a.b: 1\nc: 22\n");
  });
});

describe("control characters in request values", () => {
  it("never reach /stats: a CR/LF in a detailed_metric value cannot forge a line", () => {
    const stats = createStats();
    const forged = "v\r\nratelimit.service.config_load_error: 12345\u0000\u001b\u007f";
    stats.descriptorDecided(outcome("d.k", { metricKey: `d.k_${forged}` }));
    stats.domainNotFound(`dom\n${forged}`);
    const text = formatStats(stats.snapshot());
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(text.replace(/\n/g, "")).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(text.split("\n").filter((l) => l.startsWith("ratelimit.service.config_load_error"))).toEqual([]);
    for (const line of text.trimEnd().split("\n")) expect(line).toMatch(/^[^:]*: \d+$/);
  });
});
