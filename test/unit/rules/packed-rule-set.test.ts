import { readdirSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import type { Entry, RuleSet } from "../../../src/domain/types.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import { packRuleFiles, packRules } from "../../../src/rules/pack.js";
import { type PackedRules, transferList } from "../../../src/rules/packed-format.js";
import {
  decodeItem,
  type EncodedItem,
  encodedLength,
  encodeItem,
  ITEM_JSON,
  ITEM_V8,
  writeEncoded,
} from "../../../src/rules/packed-item.js";
import { EAGER_LIMITS, type EagerLimits, ruleSetFromPacked } from "../../../src/rules/packed-rule-set.js";
import { parseRuleFile, type RawDescriptor, type RuleFile } from "../../../src/rules/schema.js";
import { fixture } from "./load-fixture.js";

/** Every domain through the packed table, however small (the default compiles small domains at once). */
const ALL_PACKED: EagerLimits = { domainItems: 0, totalItems: 0 };

/** What the parse worker does, then the move to this thread (the buffers transferred, as postMessage does). */
function packed(files: readonly RuleFile[], mergeDomainConfig = false, eager: EagerLimits = ALL_PACKED) {
  const rules = packRuleFiles(files, { mergeDomainConfig, maxRules: 100_000 }).packed;
  const moved = structuredClone(rules, { transfer: transferList(rules) }) as PackedRules;
  // Transferred, not copied: the worker's buffers are detached.
  for (const d of rules.domains) expect(d.items.byteLength).toBe(0);
  return ruleSetFromPacked(moved, eager);
}

function sameAnswers(eager: RuleSet, lazy: RuleSet, requests: readonly (readonly Entry[])[], domains: string[]) {
  for (const domain of domains) {
    for (const req of requests) expect(lazy.findRule(domain, req)).toEqual(eager.findRule(domain, req));
  }
}

/** An encoded item as packing writes it into PackedDomain.items (behind one byte of padding, so `at` matters). */
function bytesOf(item: EncodedItem): Uint8Array {
  const target = Buffer.alloc(encodedLength(item) + 1);
  writeEncoded(item, target, 1);
  return target.subarray(1);
}

const roundTrip = (item: EncodedItem) => decodeItem(item.encoding, bytesOf(item));

describe("packed rule set", () => {
  const valid = readdirSync(new URL("../../fixtures/rules/valid/", import.meta.url)).sort();

  it.each(
    valid.flatMap((name) => [
      [name, "packed"],
      [name, "small domains compiled at once"],
    ]),
  )("%s (%s): same domains, version and /rlconfig dump as the compiled set", (name, mode) => {
    const files = [fixture("valid", name)];
    const merge = name.startsWith("merge");
    const eager = compileRuleSet(files, { mergeDomainConfig: merge });
    const lazy = packed(files, merge, mode === "packed" ? ALL_PACKED : EAGER_LIMITS);
    expect(lazy.domains).toEqual(eager.domains);
    expect(lazy.version).toBe(eager.version);
    expect(lazy.dump()).toBe(eager.dump());
    expect(lazy.hasDomain(eager.domains[0] as string)).toBe(true);
    expect(lazy.hasDomain("nope")).toBe(false);
  });

  it("merges a domain across files in file order, each item compiled with its own file", () => {
    const files = [fixture("valid", "merge_a.yaml"), fixture("valid", "merge_b.yaml")];
    const eager = compileRuleSet(files, { mergeDomainConfig: true });
    const lazy = packed(files, true);
    expect(lazy.dump()).toBe(eager.dump());
    expect(lazy.version).toBe(eager.version);
  });

  it.each(
    readdirSync(new URL("../../fixtures/rules/invalid/", import.meta.url))
      .sort()
      .filter((n) => n !== "duplicate_domain.yaml"),
  )("%s: packing fails with the compile's error", (name) => {
    const files = [fixture("invalid", name)];
    const expected = (() => {
      try {
        compileRuleSet(files, { mergeDomainConfig: false });
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(expected).toBeInstanceOf(ConfigError);
    expect(() => packRuleFiles(files, { mergeDomainConfig: false, maxRules: 100_000 })).toThrow(
      (expected as Error).message,
    );
    // Packing files parsed beforehand (packRules) gives the same error when the parse passed.
    const parsed = (() => {
      try {
        return files.map((f) => parseRuleFile(f));
      } catch {
        return undefined;
      }
    })();
    if (parsed !== undefined) {
      expect(() => packRules(files, parsed, { mergeDomainConfig: false })).toThrow((expected as Error).message);
    }
  });

  describe("packRuleFiles(): one file at a time, with compileRuleSet's outcome over several files", () => {
    const file = (name: string, text: string): RuleFile => ({ name, text });
    const dup = file("a.yaml", "domain: a\ndescriptors:\n  - key: k\n  - key: k\n");
    const badUnit = file("b.yaml", "domain: b\ndescriptors:\n  - key: k\n    rate_limit: {unit: fortnight}\n");
    const badYaml = file("c.yaml", "domain: c\ndescriptors: [\n");
    const good = file("d.yaml", "domain: d\ndescriptors:\n  - key: k\n    shadow_mode: true\n    unit: second\n");
    const sameDomain = file("e.yaml", "domain: d\ndescriptors:\n  - key: j\n");
    const outcome = (fn: () => unknown): string => {
      try {
        fn();
        return "ok";
      } catch (err) {
        return (err as Error).message;
      }
    };
    it.each([
      ["a syntax error in a later file wins over a compile error", [dup, good, badYaml]],
      ["the first compile error in load order", [good, badUnit, dup]],
      ["a duplicate domain without merging", [good, sameDomain]],
      ["an empty file among good ones", [good, file("z.yaml", "")]],
    ])("%s", (_title, files) => {
      const expected = outcome(() => compileRuleSet(files, { mergeDomainConfig: false }));
      expect(expected).not.toBe("ok");
      expect(outcome(() => packRuleFiles(files, { mergeDomainConfig: false, maxRules: 100 }))).toBe(expected);
    });

    it("merges across files as compileRuleSet does, warnings in its order", () => {
      const files = [good, sameDomain, file("f.yaml", "domain: f\ndescriptors:\n  - key: q\n    unit: minute\n")];
      const expectedWarnings: unknown[] = [];
      const eager = compileRuleSet(files, { mergeDomainConfig: true, onWarning: (w) => expectedWarnings.push(w) });
      expect(expectedWarnings.length).toBeGreaterThanOrEqual(2);
      const { packed: rules, warnings } = packRuleFiles(files, { mergeDomainConfig: true, maxRules: 100 });
      expect(warnings).toEqual(expectedWarnings);
      const lazy = ruleSetFromPacked(rules, ALL_PACKED);
      expect(lazy.version).toBe(eager.version);
      expect(lazy.dump()).toBe(eager.dump());
    });

    it("counts rules across files, nested ones included, and names the file that goes over", () => {
      const nested = file("n.yaml", "domain: n\ndescriptors:\n  - key: a\n    descriptors:\n      - key: b\n");
      expect(() => packRuleFiles([good, nested], { mergeDomainConfig: false, maxRules: 3 })).not.toThrow();
      expect(() => packRuleFiles([good, nested], { mergeDomainConfig: false, maxRules: 2 })).toThrow(
        "n.yaml: rule files together hold more than 2 rules",
      );
    });

    it("reads the files lazily, one at a time", () => {
      const seen: string[] = [];
      function* lazily(): Generator<RuleFile> {
        for (const f of [good, file("f.yaml", "domain: f\n")]) {
          seen.push(f.name);
          yield f;
        }
      }
      const { packed: rules } = packRuleFiles(lazily(), { mergeDomainConfig: false, maxRules: 100 });
      expect(seen).toEqual(["d.yaml", "f.yaml"]);
      expect(ruleSetFromPacked(rules).domains).toEqual(["d", "f"]);
    });
  });

  it("compiles each top-level item only when a call first reaches it, and keeps it", () => {
    let text = "domain: d\ndescriptors:\n";
    for (let i = 0; i < 1_000; i++) {
      text += `  - key: user\n    value: u${i}\n    rate_limit: {unit: minute, requests_per_unit: ${i + 1}}\n`;
      text += "    descriptors:\n      - key: path\n        rate_limit: {unit: second, requests_per_unit: 1}\n";
    }
    const lazy = packed([{ name: "d.yaml", text }]);
    expect(lazy.compiledItems()).toBe(0);
    const first = lazy.findRule("d", [{ key: "user", value: "u417" }]);
    expect(first?.limits[0]?.requestsPerUnit).toBe(418);
    expect(lazy.compiledItems()).toBe(1);
    expect(lazy.findRule("d", [{ key: "user", value: "u417" }])).toBe(first);
    expect(
      lazy.findRule("d", [
        { key: "user", value: "u417" },
        { key: "path", value: "/x" },
      ])?.fullKey,
    ).toBe("d.user_u417.path");
    expect(lazy.findRule("d", [{ key: "user", value: "nobody" }])).toBeUndefined();
    expect(lazy.findRule("d", [])).toBeUndefined();
    expect(lazy.compiledItems()).toBe(1);
    // The dump compiles what it needs for itself, without keeping it.
    expect(lazy.dump().split("\n")).toHaveLength(2_001);
    expect(lazy.compiledItems()).toBe(1);
  });

  it("compiles small domains at once, within a budget across domains; larger ones item by item", () => {
    const domain = (name: string, items: number): RuleFile => {
      let text = `domain: ${name}\ndescriptors:\n`;
      for (let i = 0; i < items; i++)
        text += `  - {key: k, value: v${i}, rate_limit: {unit: second, requests_per_unit: 1}}\n`;
      return { name: `${name}.yaml`, text };
    };
    // 64 items: at once; 65: item by item; then 60-item domains until 256 in all have been compiled at once.
    const files = [
      domain("a", 64),
      domain("b", 65),
      domain("c", 60),
      domain("d", 60),
      domain("e", 60),
      domain("f", 60),
    ];
    const set = packed(files, false, EAGER_LIMITS);
    expect(set.compiledItems()).toBe(64 + 60 * 3);
    expect(set.findRule("b", [{ key: "k", value: "v64" }])?.fullKey).toBe("b.k_v64");
    expect(set.findRule("f", [{ key: "k", value: "v0" }])?.fullKey).toBe("f.k_v0");
    expect(set.compiledItems()).toBe(64 + 60 * 3 + 2);
    expect(set.findRule("a", [{ key: "k", value: "v63" }])?.fullKey).toBe("a.k_v63");
    expect(set.compiledItems()).toBe(64 + 60 * 3 + 2);
    expect(set.dump()).toBe(compileRuleSet(files, { mergeDomainConfig: false }).dump());
  });

  it("compares the whole composite: the `_` between key and value is where the request puts it", () => {
    const text = [
      "domain: c",
      "descriptors:",
      "  - {key: ab, value: c, rate_limit: {unit: second, requests_per_unit: 1}}",
      "  - {key: a_b, rate_limit: {unit: second, requests_per_unit: 2}}",
      "  - {key: x, value: 'y*', rate_limit: {unit: second, requests_per_unit: 3}}",
    ].join("\n");
    const files = [{ name: "c.yaml", text }];
    const eager = compileRuleSet(files, { mergeDomainConfig: false });
    const lazy = packed(files);
    const requests = [
      [{ key: "a", value: "_c" }], // "a__c": same length as "ab_c", not the same string
      [{ key: "ab", value: "c" }],
      [{ key: "a", value: "b" }], // "a_b": the value-less a_b, by the reference's composite
      [{ key: "a_b", value: "zzz" }],
      [{ key: "x", value: "y-and-more" }],
      [{ key: "x_y", value: "z" }], // "x_y_z": `x_` then "y_z", which y* matches
    ];
    sameAnswers(eager, lazy, requests, ["c"]);
    expect(requests.map((r) => lazy.findRule("c", r)?.limits[0]?.requestsPerUnit)).toEqual([undefined, 1, 2, 2, 3, 3]);
  });

  it("keeps what JSON would lose: metadata with infinities, NaN and nested values", () => {
    const text = [
      "domain: m",
      "descriptors:",
      "  - key: k",
      "    metadata: {inf: .inf, nan: .nan, neg: -.inf, list: [1, two, {three: 3}], when: 2024-01-01}",
      "    rate_limit: {unit: second, requests_per_unit: 1, algorithm: token_bucket, burst: 4}",
    ].join("\n");
    const files = [{ name: "m.yaml", text }];
    const req = [{ key: "k", value: "v" }];
    const lazyRule = packed(files).findRule("m", req);
    expect(lazyRule).toEqual(compileRuleSet(files, { mergeDomainConfig: false }).findRule("m", req));
    expect(lazyRule?.metadata).toMatchObject({ inf: Infinity, neg: -Infinity });
    expect(Number.isNaN(lazyRule?.metadata?.["nan"])).toBe(true);
  });

  it("stores an item as JSON when JSON holds it exactly (extension keys included), in node:v8's format otherwise", () => {
    const text = [
      "domain: j",
      "descriptors:",
      "  - key: plain",
      "    rate_limits:",
      "      - {unit: minute, requests_per_unit: 60, algorithm: token_bucket, burst: 10, name: a}",
      "      - {unit: hour, requests_per_unit: 600, algorithm: sliding_window, name: b}",
      "    metadata: {team: x, n: 1, list: [a, {b: null}]}",
      "    descriptors:",
      "      - {key: inner, rate_limit: {unit: second, requests_per_unit: 2, algorithm: leaky_bucket}}",
      "  - key: odd",
      "    metadata: {n: .inf}",
      "    rate_limit: {unit: second, requests_per_unit: 1}",
    ].join("\n");
    const [plain, odd] = parseRuleFile({ name: "j.yaml", text }).descriptors as [RawDescriptor, RawDescriptor];
    const a = encodeItem(plain);
    expect(a.encoding).toBe(ITEM_JSON);
    expect(roundTrip(a)).toEqual(plain);
    expect(roundTrip(a).rateLimits?.[0]?.extensions).toBeInstanceOf(Map);
    const b = encodeItem(odd);
    expect(b.encoding).toBe(ITEM_V8);
    expect(roundTrip(b)).toEqual(odd);
    const files = [{ name: "j.yaml", text }];
    const eager = compileRuleSet(files, { mergeDomainConfig: false });
    const lazy = packed(files);
    for (const req of [
      [{ key: "plain", value: "v" }],
      [
        { key: "plain", value: "v" },
        { key: "inner", value: "w" },
      ],
      [{ key: "odd", value: "v" }],
    ]) {
      expect(lazy.findRule("j", req)).toEqual(eager.findRule("j", req));
    }
  });

  it("writes JSON compactly: defaults and derived paths left out, everything restored exactly", () => {
    const text = [
      "domain: c",
      "descriptors:",
      "  - key: user",
      "    value: u1",
      "    rate_limit: { unit: minute, requests_per_unit: 100 }",
      "  - key: all",
      "    shadow_mode: true",
      "    share_threshold: true",
      "    metadata: {}",
      "    rate_limit:",
      "      unit: second",
      "      requests_per_unit: 0",
      "      unlimited: true",
      "      name: n",
      "      replaces: [{name: a}, {name: b}]",
      "      algorithm: token_bucket",
      "    descriptors:",
      "      - key: inner",
      "        detailed_metric: true",
      "        value_to_metric: true",
      "        quota_mode: true",
      "        rate_limits: [{unit: hour, requests_per_unit: 3}]",
    ].join("\n");
    const [user, all] = parseRuleFile({ name: "c.yaml", text }).descriptors as [RawDescriptor, RawDescriptor];
    const typical = encodeItem(user);
    expect(new TextDecoder().decode(bytesOf(typical))).toBe(
      '{"k":"user","p":"descriptors[0]","v":"u1","r":{"u":"minute","n":100}}',
    );
    expect(roundTrip(typical)).toEqual(user);
    const full = encodeItem(all);
    expect(roundTrip(full)).toEqual(all);
    // A path that is not the one the parent implies is written out, so decoding never depends on how the schema
    // builds paths.
    const odd: RawDescriptor = {
      ...all,
      path: "x",
      rateLimitsPath: "y",
      descriptors: [{ ...(all.descriptors[0] as RawDescriptor), path: "z" }],
      rateLimit: {
        ...(all.rateLimit as RawDescriptor["rateLimit"] & object),
        path: "w",
        replaces: [{ path: "v", name: "a" }],
        extensions: new Map([["algorithm", { value: "token_bucket", path: "u" }]]),
      },
    };
    const oddEncoded = encodeItem(odd);
    expect(oddEncoded.encoding).toBe(ITEM_JSON);
    expect(roundTrip(oddEncoded)).toEqual(odd);
  });

  it("answers every request as the compiled set does (random rules with colliding keys, patterns, nesting)", () => {
    const keys = ["a", "b", "ab", "a_b", "a_b_c", "_", "é", "k𝄞"];
    const values = ["", "b", "c", "b_c", "_", "*", "b*", "*c", "b*c", "c_*", "ü"];
    const item = fc.record({
      key: fc.constantFrom(...keys),
      value: fc.constantFrom(...values),
      limited: fc.boolean(),
      share: fc.boolean(),
    });
    const tree = fc.array(fc.record({ item, children: fc.array(item, { maxLength: 4 }) }), { maxLength: 12 });
    const request = fc.array(
      fc.record({
        key: fc.constantFrom(...keys, "a_", "b_c", ""),
        value: fc.constantFrom(...values, "bc", "_c", "b_c_d", "", "bxc"),
      }),
      { minLength: 0, maxLength: 3 },
    );
    fc.assert(
      fc.property(tree, tree, fc.array(request, { minLength: 1, maxLength: 12 }), (top1, top2, requests) => {
        const files = [
          { name: "one.yaml", text: toYaml("d", unique(top1)) },
          { name: "two.yaml", text: toYaml("d", unique(top2, unique(top1))) },
          { name: "three.yaml", text: toYaml("e", unique(top2)) },
        ];
        const eager = compileRuleSet(files, { mergeDomainConfig: true });
        for (const limits of [ALL_PACKED, EAGER_LIMITS, { domainItems: 12, totalItems: 12 }]) {
          const lazy = packed(files, true, limits);
          sameAnswers(eager, lazy, requests, ["d", "e", "x"]);
          expect(lazy.dump()).toBe(eager.dump());
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

interface Item {
  key: string;
  value: string;
  limited: boolean;
  share: boolean;
}

/** Drops items whose composite repeats at their level, or was taken by `taken` (the compiler rejects those). */
function unique(top: readonly { item: Item; children: Item[] }[], taken: readonly { item: Item }[] = []) {
  const seen = new Set(taken.map((t) => composite(t.item)));
  const fresh =
    <T>(get: (t: T) => Item, set: Set<string>) =>
    (t: T) => {
      const c = composite(get(t));
      if (set.has(c)) return false;
      set.add(c);
      return true;
    };
  return top
    .filter(fresh((t) => t.item, seen))
    .map((t) => ({ item: t.item, children: t.children.filter(fresh((c: Item) => c, new Set<string>())) }));
}

function composite(n: { key: string; value: string }): string {
  return n.value === "" ? n.key : `${n.key}_${n.value}`;
}

function toYaml(domain: string, top: readonly { item: Item; children: Item[] }[]): string {
  const conv = (n: Item, children: Item[]): unknown => ({
    key: n.key,
    ...(n.value === "" ? {} : { value: n.value }),
    ...(n.share && n.value.includes("*") ? { share_threshold: true } : {}),
    ...(n.limited ? { rate_limit: { unit: "second", requests_per_unit: 1 } } : {}),
    ...(children.length > 0 ? { descriptors: children.map((c) => conv(c, [])) } : {}),
  });
  return JSON.stringify({ domain, descriptors: top.map((t) => conv(t.item, t.children)) });
}
