import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../../src/domain/errors.js";
import {
  type DeepPartial,
  RateLimitConfig,
  RateLimitUnit,
} from "../../../../src/gen/ratelimit/config/ratelimit/v3/rls_conf.js";
import { compileRuleSet } from "../../../../src/rules/compile.js";
import { RLS_CONFIG_TYPE_URL, rlsConfigsToRuleFiles } from "../../../../src/transport/xds/rls-config.js";

function any(config: DeepPartial<RateLimitConfig>) {
  const message = RateLimitConfig.fromPartial(config);
  return { typeUrl: RLS_CONFIG_TYPE_URL, value: Buffer.from(RateLimitConfig.encode(message).finish()) };
}

const compile = (configs: DeepPartial<RateLimitConfig>[]) =>
  compileRuleSet(rlsConfigsToRuleFiles(configs.map(any)), { mergeDomainConfig: false });

describe("rlsConfigsToRuleFiles()", () => {
  it("keeps strings that YAML 1.1 would read as other types as strings", () => {
    const tricky = ["yes", "on", "0x10", "010", "1e3", "~", "null", "2001-01-01", "a: b # c", "- x", "<<", "*"];
    const rules = compile([
      {
        name: "t",
        domain: "no",
        descriptors: tricky.map((value, i) => ({
          key: `k${i}`,
          value,
          rateLimit: { unit: RateLimitUnit.SECOND, requestsPerUnit: i + 1, unlimited: false, name: "", replaces: [] },
        })),
      },
    ]);
    expect(rules.domains).toEqual(["no"]);
    tricky.forEach((value, i) => {
      expect(rules.findRule("no", [{ key: `k${i}`, value }])?.limits[0]?.requestsPerUnit).toBe(i + 1);
    });
  });

  it("names the resource and the proto field path of an invalid rule", () => {
    const unknownUnit = { unit: 9 as RateLimitUnit, requestsPerUnit: 1, unlimited: false, name: "", replaces: [] };
    expect(() =>
      compile([{ name: "cfg", domain: "d", descriptors: [{ key: "a" }, { key: "b", rateLimit: unknownUnit }] }]),
    ).toThrow('xds:cfg: descriptors[1].rate_limit.unit: "unit number 9" is not one of');
    expect(() => compile([{ name: "", domain: "", descriptors: [] }])).toThrow(
      new ConfigError("xds:resources[0]", "domain", "config file cannot have empty domain"),
    );
  });

  it("maps UNKNOWN to no unit, which only unlimited rules accept", () => {
    const rl = { unit: RateLimitUnit.UNKNOWN, requestsPerUnit: 0, unlimited: true, name: "", replaces: [] };
    const rules = compile([{ name: "u", domain: "d", descriptors: [{ key: "a", rateLimit: rl }] }]);
    expect(rules.findRule("d", [{ key: "a", value: "x" }])?.unlimited).toBe(true);
    expect(() =>
      compile([{ name: "u", domain: "d", descriptors: [{ key: "a", rateLimit: { ...rl, unlimited: false } }] }]),
    ).toThrow(/descriptors\[0\]\.rate_limit\.unit: missing unit/);
  });
});
