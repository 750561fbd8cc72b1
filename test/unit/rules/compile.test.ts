import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import type { LimitRule, RuleSet } from "../../../src/domain/types.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import type { ConfigWarning, RuleFile } from "../../../src/rules/schema.js";
import { flatRule } from "../../helpers/limits.js";
import { compileText, compileValid, fixture } from "./load-fixture.js";

const UNITS = "second|minute|hour|day|week|month|year";
const WHOLE = "expected a whole number from 0 to 4294967295, got";

/** One fixture per failure: [file, YAML path, detail]. The message is `file: path: detail` (or `file: detail`). */
const INVALID: readonly (readonly [string, string, string])[] = [
  [
    "bad_yaml.yaml",
    "",
    "error loading config file: Flow sequence in block collection must be sufficiently indented and end with a ] at line 3, column 1",
  ],
  ["duplicate_yaml_key.yaml", "", "error loading config file: Map keys must be unique at line 4, column 5"],
  ["not_a_mapping.yaml", "", "expected a mapping with domain: and descriptors:, got a list"],
  ["unknown_key.yaml", "descriptors[0].ratelimit", "unknown key 'ratelimit'"],
  ["unknown_key_nested.yaml", "descriptors[0].rate_limit.requestsperunit", "unknown key 'requestsperunit'"],
  ["non_string_key.yaml", "descriptors[0]", "key is not of type string: 0.25"],
  ["non_map_list.yaml", "descriptors[0]", 'expected a mapping, got the string "a"'],
  ["descriptors_not_list.yaml", "descriptors", 'expected a list, got the string "key1"'],
  ["empty_domain.yaml", "domain", "config file cannot have empty domain"],
  ["missing_domain.yaml", "domain", "config file cannot have empty domain"],
  ["empty_file.yaml", "domain", "config file cannot have empty domain"],
  ["duplicate_composite_key.yaml", "descriptors[1]", "duplicate descriptor composite key 'test-domain.key1_value1'"],
  [
    "duplicate_composite_key_nested.yaml",
    "descriptors[0].descriptors[1]",
    "duplicate descriptor composite key 'test-domain.key1.sub'",
  ],
  ["duplicate_composite_key_underscore.yaml", "descriptors[1]", "duplicate descriptor composite key 'test-domain.a_b'"],
  ["empty_key.yaml", "descriptors[0].key", "descriptor has empty key"],
  ["missing_key.yaml", "descriptors[0].key", "descriptor has empty key"],
  ["bad_unit.yaml", "descriptors[2].rate_limit.unit", `"minutes" is not one of ${UNITS}`],
  ["unknown_unit.yaml", "descriptors[0].rate_limit.unit", `"unknown" is not one of ${UNITS}`],
  ["missing_unit.yaml", "descriptors[0].rate_limit.unit", `missing unit (one of ${UNITS})`],
  ["unlimited_with_unit.yaml", "descriptors[0].rate_limit.unit", "should not specify rate limit unit when unlimited"],
  [
    "replaces_self.yaml",
    "descriptors[0].rate_limit.replaces[0].name",
    "replaces should not contain name of same descriptor",
  ],
  ["replaces_empty.yaml", "descriptors[0].rate_limit.replaces[0].name", "should not have an empty replaces entry"],
  ["float_requests_per_unit.yaml", "descriptors[0].rate_limit.requests_per_unit", `${WHOLE} the float 1.5`],
  ["negative_requests_per_unit.yaml", "descriptors[0].rate_limit.requests_per_unit", `${WHOLE} the integer -1`],
  ["huge_requests_per_unit.yaml", "descriptors[0].rate_limit.requests_per_unit", `${WHOLE} the integer 4294967296`],
  ["string_requests_per_unit.yaml", "descriptors[0].rate_limit.requests_per_unit", `${WHOLE} the string "10"`],
  ["bad_bool.yaml", "descriptors[0].shadow_mode", 'expected true or false, got the string "sometimes"'],
  ["float_value.yaml", "descriptors[0].value", "expected a string, got the float 1.5"],
  ["rate_limit_not_map.yaml", "descriptors[0].rate_limit", "expected a mapping, got the integer 5"],
  ["metadata_not_map.yaml", "descriptors[0].metadata", "expected a mapping, got a list"],
  [
    "share_threshold_without_wildcard.yaml",
    "descriptors[0].descriptors[0].share_threshold",
    "share_threshold can only be used with wildcard values (containing '*'), but found key 'path_/api'",
  ],
  [
    "misplaced_key_bad_value.yaml",
    "descriptors[0].rate_limit.descriptors[0]",
    'expected a mapping in this list, got the string "oops"',
  ],
];

function compileError(files: readonly RuleFile[], mergeDomainConfig = false): ConfigError {
  try {
    compileRuleSet(files, { mergeDomainConfig });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError, but the files compiled");
}

function rule(rs: RuleSet, domain: string, ...pairs: string[]): LimitRule {
  const entries = [];
  for (let i = 0; i < pairs.length; i += 2) entries.push({ key: pairs[i] ?? "", value: pairs[i + 1] ?? "" });
  const found = rs.findRule(domain, entries);
  if (found === undefined) throw new Error(`no rule for ${pairs.join(",")}`);
  return found;
}

describe("compileRuleSet()", () => {
  it.each(INVALID)("rejects %s naming the file and the YAML path", (name, path, detail) => {
    // duplicate_domain is covered below; every other fixture fails on its own.
    const err = compileError([fixture("invalid", name)]);
    expect({ file: err.file, path: err.path, detail: err.detail }).toEqual({ file: name, path, detail });
    expect(err.message).toBe(path === "" ? `${name}: ${detail}` : `${name}: ${path}: ${detail}`);
  });

  it("rejects a domain defined in two files", () => {
    const err = compileError([fixture("valid", "basic.yaml"), fixture("invalid", "duplicate_domain.yaml")]);
    expect(err.message).toBe(
      "duplicate_domain.yaml: domain: duplicate domain 'test-domain' in config file (also in basic.yaml; set MERGE_DOMAIN_CONFIG=true to merge)",
    );
  });

  it("merges a domain's descriptors from several files with mergeDomainConfig", () => {
    const rs = compileValid("merge_a.yaml", "merge_b.yaml");
    expect(rs.domains).toEqual(["merged"]);
    expect(rule(rs, "merged", "key1", "value1").limits[0]?.requestsPerUnit).toBe(10);
    expect(rule(rs, "merged", "key2", "value2").limits[0]?.requestsPerUnit).toBe(20);
    // Wildcards keep file order across the merge: the first file's `a*` is tried before the second's `ab*`.
    expect(rule(rs, "merged", "w", "abc").limits[0]?.requestsPerUnit).toBe(11);
  });

  it("still rejects a duplicate composite key across merged files, naming the second file", () => {
    const err = compileError(
      [fixture("valid", "merge_a.yaml"), { ...fixture("valid", "merge_a.yaml"), name: "again.yaml" }],
      true,
    );
    expect(err.message).toBe("again.yaml: descriptors[0]: duplicate descriptor composite key 'merged.key1_value1'");
  });

  it("checks every file's YAML before loading any, as the reference does", () => {
    const err = compileError([fixture("invalid", "empty_domain.yaml"), fixture("invalid", "bad_yaml.yaml")]);
    expect(err.file).toBe("bad_yaml.yaml");
  });

  it("compiles no files into an empty rule set", () => {
    const rs = compileRuleSet([], { mergeDomainConfig: false });
    expect(rs.domains).toEqual([]);
    expect(rs.hasDomain("x")).toBe(false);
    expect(rs.dump()).toBe("");
  });

  it.each([
    ["s", "second", 1],
    ["m", "minute", 2],
    ["h", "hour", 3],
    ["d", "day", 4],
    ["w", "week", 5],
    ["mo", "month", 6],
    ["y", "year", 7],
    ["zero", "second", 0],
    ["max", "second", 4_294_967_295],
  ] as const)("reads unit %s case-insensitively as %s with requests_per_unit %d", (value, unit, rpu) => {
    const r = rule(compileValid("units.yaml"), "units", "u", value);
    expect({ unit: r.limits[0]?.unit, requestsPerUnit: r.limits[0]?.requestsPerUnit, unlimited: r.unlimited }).toEqual({
      unit,
      requestsPerUnit: rpu,
      unlimited: false,
    });
  });

  it("compiles rule fields: name, replaces, shadow and quota modes, unlimited, metadata", () => {
    const basic = compileValid("basic.yaml");
    expect(flatRule(rule(basic, "test-domain", "key1", "value1", "subkey1", "subvalue1"))).toMatchObject({
      fullKey: "test-domain.key1_value1.subkey1_subvalue1",
      shadowMode: true,
      quotaMode: false,
      name: undefined,
      replaces: [],
      keyValueOverrides: [],
      algorithm: "fixed_window",
    });
    expect(flatRule(rule(basic, "test-domain", "key3", "x"))).toMatchObject({ quotaMode: true, shadowMode: false });
    expect(flatRule(rule(basic, "test-domain", "key6", "x"))).toMatchObject({
      unlimited: true,
      fullKey: "test-domain.key6",
    });
    const replaces = compileValid("replaces.yaml");
    expect(flatRule(rule(replaces, "replaces", "user", "vip"))).toMatchObject({
      name: "vip",
      replaces: ["per-user", "global"],
    });
    expect(flatRule(rule(replaces, "replaces", "user", "bob"))).toMatchObject({ name: "per-user", replaces: [] });
    expect(rule(compileValid("metadata.yaml"), "meta", "service", "a").metadata).toEqual({
      service_with_quota: { name: "service_2", tier: 3, ratio: 0.5, tags: ["a", "b"] },
    });
  });

  it("returns frozen rules", () => {
    const r = rule(compileValid("basic.yaml"), "test-domain", "key2", "x");
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r.limits[0]?.replaces)).toBe(true);
  });

  it("reads YAML 1.1 like go-yaml v2: yes/no, integers as strings, octal, merge keys, null items", () => {
    const rs = compileValid("yaml11.yaml");
    expect(rule(rs, "yaml11", "port", "8080").limits[0]?.requestsPerUnit).toBe(8);
    expect(flatRule(rule(rs, "yaml11", "flag", "yes"))).toMatchObject({
      shadowMode: true,
      requestsPerUnit: 3,
      unit: "minute",
    });
    expect(rs.findRule("yaml11", [{ key: "empty", value: "x" }])).toBeUndefined();
  });

  it("accepts unlimited with an unknown unit, as the reference does, and warns", () => {
    const warnings: ConfigWarning[] = [];
    const rs = compileRuleSet(
      [
        {
          name: "u.yaml",
          text: "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unlimited: true, unit: forever}\n",
        },
      ],
      { mergeDomainConfig: false, onWarning: (w) => warnings.push(w) },
    );
    expect(rule(rs, "d", "k", "v").unlimited).toBe(true);
    expect(warnings).toEqual([
      {
        file: "u.yaml",
        path: "descriptors[0].rate_limit.unit",
        detail: "'forever' is ignored: the limit is unlimited",
      },
    ]);
  });

  it("accepts valid keys in the wrong place, ignores them as the reference does, and warns", () => {
    const warnings: ConfigWarning[] = [];
    const rs = compileRuleSet([fixture("valid", "misplaced_key.yaml")], {
      mergeDomainConfig: false,
      onWarning: (w) => warnings.push(w),
    });
    expect(rule(rs, "misplaced", "a", "x").shadowMode).toBe(false);
    expect(warnings.map((w) => w.path)).toEqual([
      "key",
      "descriptors[0].unit",
      "descriptors[0].rate_limit.shadow_mode",
    ]);
  });

  it("rejects a file with more than one YAML document, without parsing past the second", () => {
    expect(() => compileText("domain: first\n---\ndomain: second\n  bad: [\n")).toThrow(/more than one YAML document/);
    const many = Array.from({ length: 20_000 }, (_, i) => `domain: d${i}\n`).join("---\n");
    const t0 = performance.now();
    expect(() => compileText(many)).toThrow(/more than one YAML document/);
    // Parsing 20,000 documents takes seconds; stopping at the second takes well under one even on a busy machine.
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it("accepts a single document that starts with ---", () => {
    expect(compileText("---\ndomain: only\n").domains).toEqual(["only"]);
  });

  it("rejects a file whose aliases expand without bound", () => {
    const lines = ["domain: d", "descriptors:", "  - key: k", "    metadata:", "      a0: &a0 [x,x,x,x,x,x,x,x,x,x]"];
    for (let i = 1; i < 8; i++)
      lines.push(
        `      a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(",")}]`,
      );
    expect(() => compileText(lines.join("\n"))).toThrow(
      "inline.yaml: more than 10000 alias expansions (is an alias nested in itself?)",
    );
  });

  it("derives the version from the content", () => {
    const a = compileValid("basic.yaml");
    expect(compileValid("basic.yaml").version).toBe(a.version);
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
    expect(compileText("domain: other\n").version).not.toBe(a.version);
  });
});
