import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Entry, RuleSet } from "../../../src/domain/types.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import { flatRule } from "../../helpers/limits.js";
import { fixture } from "./load-fixture.js";

const configDir = fileURLToPath(new URL("../../../config/", import.meta.url));
const readme = readFileSync(`${configDir}README.md`, "utf8");
const example = readFileSync(`${configDir}config.yaml`, "utf8");

function blocks(lang: string): string[] {
  return [...readme.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1] ?? "");
}

function compile(text: string): RuleSet {
  return compileRuleSet([{ name: "config.yaml", text }], { mergeDomainConfig: false });
}

function find(rs: RuleSet, domain: string, ...kv: string[]) {
  const entries: Entry[] = [];
  for (let i = 0; i < kv.length; i += 2) entries.push({ key: kv[i] ?? "", value: kv[i + 1] ?? "" });
  return rs.findRule(domain, entries);
}

describe("config/README.md", () => {
  const yamlBlocks = blocks("yaml");

  it("has YAML examples", () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(8);
  });

  it.each(yamlBlocks.map((text, i) => [i, text] as const))("YAML example %i compiles", (_i, text) => {
    expect(compile(text).domains).toHaveLength(1);
  });

  it("matches requests as its messaging table says", () => {
    const rs = compile(yamlBlocks.find((b) => b.includes('value: "2061234567"')) ?? "");
    expect(
      find(rs, "messaging", "message_type", "marketing", "to_number", "2061111111")?.limits[0]?.requestsPerUnit,
    ).toBe(5);
    expect(find(rs, "messaging", "to_number", "2061111111")?.limits[0]?.requestsPerUnit).toBe(100);
    expect(find(rs, "messaging", "to_number", "2061234567")?.limits[0]?.requestsPerUnit).toBe(1000);
    expect(find(rs, "messaging", "message_type", "marketing")).toBeUndefined();
    expect(find(rs, "messaging", "to_number", "1", "extra", "x")).toBeUndefined();
  });

  it("shows the /rlconfig of the quick-start config.yaml", () => {
    expect(blocks("text")).toContain(compile(example).dump());
  });

  it("shows a real error message", () => {
    expect(() => compile(fixture("invalid", "bad_unit.yaml").text)).toThrow(blocks("text")[0]?.trim() ?? "");
  });
});

describe("config/config.yaml", () => {
  const rs = compile(example);

  it.each([
    [["remote_address", "203.0.113.7"], { requestsPerUnit: 10, unit: "second" }],
    [["remote_address", "127.0.0.1"], { unlimited: true }],
    [["api", "search", "user", "alice"], { name: "search-per-user", requestsPerUnit: 30, unit: "minute" }],
    [["path", "/v1/reports/export"], { requestsPerUnit: 100, unit: "day", keyValueOverrides: [] }],
    [["path", "/downloads/a.zip"], { requestsPerUnit: 1000, keyValueOverrides: ["/downloads/*"] }],
    [["plan", "free"], { shadowMode: true, unit: "week" }],
    [["plan", "premium"], { requestsPerUnit: 600, replaces: ["search-per-user"] }],
  ])("gives %j the rule %j", (kv, expected) => {
    expect(flatRule(find(rs, "quickstart", ...kv))).toMatchObject(expected);
  });
});
