import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entry } from "../../../src/domain/types.js";
import { compileText, compileValid } from "./load-fixture.js";

/** `k1=v1,k2=v2` → entries (a missing `=v` means an empty value). */
function entries(spec: string): Entry[] {
  return spec.split(",").map((pair) => {
    const i = pair.indexOf("=");
    return i === -1 ? { key: pair, value: "" } : { key: pair.slice(0, i), value: pair.slice(i + 1) };
  });
}

describe("findRule()", () => {
  const basic = compileValid("basic.yaml");
  it.each([
    ["key1=value1,subkey1=something", "test-domain.key1_value1.subkey1"],
    ["key1=value1,subkey1=subvalue1", "test-domain.key1_value1.subkey1_subvalue1"],
    ["key2=something", "test-domain.key2"],
    ["key2=value2", "test-domain.key2_value2"],
    ["key3=foo", "test-domain.key3"],
    ["key5=x", "test-domain.key5"],
    ["key5=x,subkey5=y", "test-domain.key5.subkey5"],
    // Shallower than the rules: the item matched at the last entry has no limit.
    ["key1=value1", undefined],
    // Deeper than the rules: only the item matched at the LAST entry may supply the limit.
    ["key2=value2,subkey=subvalue", undefined],
    ["key3=foo,more=x", undefined],
    ["key5=x,subkey5=y,deeper=z", undefined],
    // A listed value with neither limit nor children is allow-listed (it wins over the value-less key2).
    ["key2=value3", undefined],
    ["key1=something", undefined],
    ["key1=value1,other=x", undefined],
    ["unknown=x", undefined],
    // An empty request value matches only value-less keys.
    ["key2=", "test-domain.key2"],
  ])("matches %s to %s", (spec, fullKey) => {
    expect(basic.findRule("test-domain", entries(spec))?.fullKey).toBe(fullKey);
  });

  it("returns undefined for an unknown domain and for no entries", () => {
    expect(basic.findRule("nope", entries("key2=x"))).toBeUndefined();
    expect(basic.findRule("test-domain", [])).toBeUndefined();
    expect(basic.hasDomain("test-domain")).toBe(true);
    expect(basic.hasDomain("nope")).toBe(false);
  });

  it("returns the same rule object for every value of a value-less key (no per-call allocation)", () => {
    expect(basic.findRule("test-domain", entries("key2=a"))).toBe(basic.findRule("test-domain", entries("key2=b")));
  });

  const wild = compileValid("wildcard.yaml");
  it.each([
    ["path=/api/v1/users", 1],
    ["path=/api/v2/orders", 2],
    ["path=/api/", 2],
    ["path=/apix", 3],
    ["path=/api", 3],
    ["path=/ap", undefined],
    ["path=/api/*", 2],
    ["host=www.example.com", 4],
    ["host=.example.com", 4],
    ["host=example.com", undefined],
    ["host=www.example.com.evil", undefined],
    ["file=img-42-thumb.png", 5],
    ["file=img--thumb.png", 5],
    ["file=img-42-thumb.jpg", undefined],
    ["file=img-thumb.png", undefined],
    ["multi=abc", 6],
    ["multi=a--b--c", 6],
    ["multi=abcabc", 6],
    ["multi=acb", undefined],
    ["multi=ab", undefined],
    ["any=", 7],
    ["any=anything at all", 7],
    ["tenant=team-a,method=GET", 8],
    ["tenant=team-a,method=POST", 9],
    ["tenant=other", 10],
    ["tenant=other,method=GET", undefined],
  ])("matches wildcard request %s to the rule with %s requests", (spec, rpu) => {
    expect(wild.findRule("wild", entries(spec))?.limits[0]?.requestsPerUnit).toBe(rpu);
  });

  const share = compileValid("share_threshold.yaml");
  it.each([
    ["files=files/a.pdf", "share.files_files/*", ["files/*"]],
    ["files=files/b.csv", "share.files_files/*", ["files/*"]],
    ["isolated=iso/a", "share.isolated_iso/*", []],
    ["nested=parent,files=nested/x", "share.nested_parent.files_nested/*", [undefined, "nested/*"]],
    ["path=path/a,file=file/b,type=t", "share.path_path/*.file_file/*.type", ["path/*", undefined, undefined]],
    ["user=user/1,resource=res/2", "share.user_user/*.resource_res/*", ["user/*", "res/*"]],
    ["route=api/x,method=GET", "share.route_api/*.method", ["api/*", undefined]],
    ["file=test1", "share.file_test1", []],
    ["file=test2", "share.file_test*", ["test*"]],
  ])("gives %s the cache-key overrides of %s", (spec, fullKey, overrides) => {
    const rule = share.findRule("share", entries(spec));
    expect(rule?.fullKey).toBe(fullKey);
    expect(rule?.keyValueOverrides).toEqual(overrides);
  });

  it("reproduces the reference's composite-key collisions (key_value strings)", () => {
    const rs = compileText(
      [
        "domain: d",
        "descriptors:",
        "  - {key: a, value: b_c, rate_limit: {unit: second, requests_per_unit: 1}}",
        "  - {key: x, value: y, rate_limit: {unit: second, requests_per_unit: 2}}",
        "  - {key: w, value: p*, rate_limit: {unit: second, requests_per_unit: 3}}",
      ].join("\n"),
    );
    // The reference looks up "a_b" + "_" + "c" = "a_b_c", the composite of (a, b_c).
    expect(rs.findRule("d", entries("a_b=c"))?.limits[0]?.requestsPerUnit).toBe(1);
    // Its value-less fallback looks up the request key alone: "x_y" is the composite of (x, y).
    expect(rs.findRule("d", entries("x_y=anything"))?.limits[0]?.requestsPerUnit).toBe(2);
    // Patterns, too, are tried on "key_value": "w_p" + "_" + "q" is "w_" followed by "p_q", which matches p*.
    expect(rs.findRule("d", entries("w=pq"))?.limits[0]?.requestsPerUnit).toBe(3);
    expect(rs.findRule("d", entries("w_p=q"))?.limits[0]?.requestsPerUnit).toBe(3);
    expect(rs.findRule("d", entries("wx=pq"))).toBeUndefined();
  });

  it("agrees with a direct port of the reference walk on random rules and requests", () => {
    const keys = ["a", "b", "a_b", "a_b_c", "_"];
    const values = ["", "b", "c", "b_c", "_", "*", "b*", "*c", "b*c", "c_*"];
    const item = fc.record({ key: fc.constantFrom(...keys), value: fc.constantFrom(...values), limited: fc.boolean() });
    const tree = fc.array(fc.record({ item, children: fc.array(item, { maxLength: 4 }) }), { maxLength: 8 });
    const request = fc.array(
      fc.record({ key: fc.constantFrom(...keys, "a_", "b_c"), value: fc.constantFrom(...values, "bc", "_c", "b_c_d") }),
      { minLength: 1, maxLength: 3 },
    );
    fc.assert(
      fc.property(tree, fc.array(request, { minLength: 1, maxLength: 10 }), (top, requests) => {
        const model = buildModel(top);
        const rs = compileText(toYaml(model));
        for (const req of requests) expect(rs.findRule("d", req)?.fullKey).toBe(modelFind(model, req));
      }),
      { numRuns: 400 },
    );
  });
});

interface ModelNode {
  key: string;
  value: string;
  limited: boolean;
  children: ModelNode[];
}

/** Drops items whose composite repeats at their level (the compiler rejects those). */
function buildModel(top: readonly { item: Omit<ModelNode, "children">; children: Omit<ModelNode, "children">[] }[]) {
  const uniq = <T extends { key: string; value: string }>(items: readonly T[]): T[] => {
    const seen = new Set<string>();
    return items.filter((i) => {
      const c = composite(i);
      if (seen.has(c)) return false;
      seen.add(c);
      return true;
    });
  };
  return uniq(top.map((t) => ({ ...t.item, children: uniq(t.children).map((c) => ({ ...c, children: [] })) })));
}

function composite(n: { key: string; value: string }): string {
  return n.value === "" ? n.key : `${n.key}_${n.value}`;
}

function toYaml(model: readonly ModelNode[]): string {
  const conv = (n: ModelNode): unknown => ({
    key: n.key,
    ...(n.value === "" ? {} : { value: n.value }),
    ...(n.limited ? { rate_limit: { unit: "second", requests_per_unit: 1 } } : {}),
    ...(n.children.length > 0 ? { descriptors: n.children.map(conv) } : {}),
  });
  return JSON.stringify({ domain: "d", descriptors: model.map(conv) });
}

/** The reference's GetLimit, on composite strings, with a regular expression for `*`. */
function modelFind(top: readonly ModelNode[], req: readonly Entry[]): string | undefined {
  let level = top;
  let path = "d";
  for (let i = 0; i < req.length; i++) {
    const { key, value } = req[i] as Entry;
    const finalKey = `${key}_${value}`;
    const byComposite = (c: string) => level.find((n) => composite(n) === c);
    const glob = (n: ModelNode) =>
      n.value.includes("*") &&
      new RegExp(`^${escapeRegExp(`${n.key}_`)}${n.value.split("*").map(escape).join(".*")}$`, "s").test(finalKey);
    const node = byComposite(finalKey) ?? level.find(glob) ?? byComposite(key);
    if (node === undefined) return undefined;
    path += `.${composite(node)}`;
    if (i === req.length - 1) return node.limited ? path : undefined;
    if (node.children.length === 0) return undefined;
    level = node.children;
  }
  return undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
