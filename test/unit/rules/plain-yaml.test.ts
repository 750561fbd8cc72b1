import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isMap, isPair, isScalar, isSeq, parseDocument } from "yaml";
import { readPlainYaml } from "../../../src/rules/plain-yaml.js";

/** The tree as the schema sees it: kinds, pairs in order, scalar values with their types, and non-string sources. */
function shape(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  if (isMap(node)) return { map: node.items.map((p) => [shape(p.key), shape(p.value)]) };
  if (isSeq(node)) return { seq: node.items.map(shape) };
  if (isPair(node)) return { pair: [shape(node.key), shape(node.value)] };
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return { null: true };
    if (typeof v === "string") return { string: v };
    return { [typeof v]: String(v), source: node.source };
  }
  return { other: String(node) };
}

/** What `yaml` reads (schema.ts's options), or "error" when it reports any error. */
function viaYaml(text: string): unknown {
  const doc = parseDocument(text, { version: "1.1", intAsBigInt: true, uniqueKeys: true });
  return doc.errors.length > 0 ? "error" : shape(doc.contents);
}

function expectSameOrDeclined(text: string): boolean {
  const plain = readPlainYaml(text);
  if (plain === undefined) return false;
  expect(shape(plain), text).toEqual(viaYaml(text));
  return true;
}

const fixtures = new URL("../../fixtures/rules/", import.meta.url);

describe("readPlainYaml()", () => {
  it("reads the valid rule fixtures as yaml does (or leaves them to yaml)", () => {
    const read = readdirSync(new URL("valid/", fixtures)).filter((name) =>
      expectSameOrDeclined(readFileSync(new URL(`valid/${name}`, fixtures), "utf8")),
    );
    // The plain ones are read here; metadata.yaml and friends may need yaml.
    expect(read.length).toBeGreaterThanOrEqual(4);
  });

  it("never reads an invalid fixture differently from yaml", () => {
    for (const name of readdirSync(new URL("invalid/", fixtures))) {
      expectSameOrDeclined(readFileSync(new URL(`invalid/${name}`, fixtures), "utf8"));
    }
  });

  it("reads the usual layouts itself", () => {
    const texts = [
      "domain: big\ndescriptors:\n  - key: user\n    value: u1\n    rate_limit: { unit: minute, requests_per_unit: 200 }\n",
      "# rules\ndomain: d\ndescriptors:\n- key: a # the client\n  rate_limit:\n    unit: second\n    requests_per_unit: 5\n",
      "domain: d\ndescriptors:\n    -   key: a\n        descriptors:\n            - key: b\n              value: 'it''s'\n",
      'domain: "d"\ndescriptors:\n  - key: a\n    shadow_mode: True\n    value: "x*y"\n\n  - key: b\n    value:\n',
      "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: hour, requests_per_unit: 0, name: n}\n    metadata: {a: {b: yes}}\n",
      "",
      "# only a comment\n",
    ];
    for (const text of texts) expect(expectSameOrDeclined(text), text).toBe(true);
  });

  it.each([
    ["a tab", "domain: d\ndescriptors:\n\t- key: a\n"],
    ["CRLF", "domain: d\r\ndescriptors: []\r\n"],
    ["a control character", "domain: 'a\u0001b'\n"],
    ["YAML 1.1's NEL line break", "domain: 'a\u0085b'\n"],
    ["a byte-order mark", "\uFEFFdomain: d\n"],
    ["an anchor and alias", "domain: &d d\ndescriptors:\n  - key: *d\n"],
    ["a merge key", "domain: d\nbase: &b {unit: second}\ndescriptors:\n  - key: a\n    rate_limit: {<<: *b}\n"],
    ["a second document", "domain: d\n---\ndomain: e\n"],
    ["a flow sequence", "domain: d\ndescriptors: []\n"],
    ["a block scalar", "domain: |\n  d\n"],
    ["a multi-line plain scalar", "domain: d\n  e\n"],
    ["a duplicate key", "domain: d\ndomain: e\n"],
    ["an octal number", "domain: d\nx: 010\n"],
    ["a float", "domain: d\nx: 1.5\n"],
    ["a timestamp", "domain: 2024-01-01\n"],
    ["an escape", 'domain: "a\\tb"\n'],
    ["an odd boolean spelling", "domain: tRUE\n"],
    ["a non-string key", "1: a\n"],
    ["a tag", "domain: !!str 1\n"],
    ["a value with a space", "domain: a b\n"],
    ["a URL", "value: http://x\n"],
    ["an unterminated quote", "domain: 'd\n"],
  ])("leaves %s to yaml", (_, text) => {
    expect(readPlainYaml(text)).toBeUndefined();
  });

  it("agrees with yaml on generated rule files, or leaves them to it", () => {
    // Mostly what the reader takes, sometimes what it must refuse or resolve like yaml.
    const usual = fc.constantFrom(
      "a",
      "user",
      "u1",
      "k_1",
      "/api/v1",
      "x*",
      "a*b",
      "0",
      "7",
      "10",
      "True",
      "no",
      "null",
    );
    const tricky = fc.constantFrom(
      "*x",
      "-a",
      ".5",
      "0",
      "7",
      "10",
      "010",
      "1_000",
      "0x1F",
      "1.5",
      "1e3",
      "2024-01-01",
      "yes",
      "No",
      "on",
      "OFF",
      "y",
      "N",
      "True",
      "tRUE",
      "null",
      "Null",
      "nULL",
      "~",
      "a b",
      "a#b",
      "a # c",
      "'q'",
      "'it''s'",
      '"dq"',
      '"d\\tq"',
      "é",
      "{}",
      "[]",
      "&x a",
      "*x",
      "<<",
      "a:b",
    );
    const token = fc.oneof({ arbitrary: usual, weight: 12 }, { arbitrary: tricky, weight: 1 });
    const key = fc.oneof(
      {
        arbitrary: fc.constantFrom("key", "value", "domain", "unit", "rate_limit", "descriptors", "name", "k1", "k2"),
        weight: 30,
      },
      { arbitrary: fc.constantFrom("yes", "1", "'q'", "a b"), weight: 1 },
    );
    type Tree =
      | { kind: "scalar"; text: string }
      | { kind: "map"; pairs: [string, Tree][]; flow: boolean }
      | { kind: "seq"; items: Tree[] };
    const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
      tree: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        token.map((text) => ({ kind: "scalar" as const, text })),
        fc.record({
          kind: fc.constant("map" as const),
          pairs: fc.uniqueArray(fc.tuple(key, tie("tree")), { minLength: 1, maxLength: 4, selector: ([k]) => k }),
          flow: fc.boolean(),
        }),
        fc.record({ kind: fc.constant("seq" as const), items: fc.array(tie("tree"), { minLength: 1, maxLength: 3 }) }),
      ),
    })).tree;
    const style = fc.record({
      indent: fc.constantFrom(1, 2, 4),
      seqAtParent: fc.boolean(),
      comment: fc.constantFrom("", " # note", "  #x"),
      blank: fc.boolean(),
      dashSpaces: fc.constantFrom(1, 3),
    });
    let readByPlain = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uniqueArray(fc.tuple(key, tree), { minLength: 1, maxLength: 4, selector: ([k]) => k }),
          fc.array(fc.tuple(key, tree), { minLength: 1, maxLength: 4 }),
        ),
        style,
        (pairs, st) => {
          const text = emit({ kind: "map", pairs, flow: false }, 0, st).join("\n");
          if (expectSameOrDeclined(text)) readByPlain++;
        },
      ),
      { numRuns: 1_500 },
    );
    // The generator must exercise the reader, not only its refusals.
    expect(readByPlain).toBeGreaterThan(150);

    function emit(
      t: Tree,
      indent: number,
      st: { indent: number; seqAtParent: boolean; comment: string; blank: boolean; dashSpaces: number },
    ): string[] {
      const pad = " ".repeat(indent);
      if (t.kind === "map") {
        const out: string[] = [];
        for (const [k, v] of t.pairs) {
          if (v.kind === "scalar") out.push(`${pad}${k}: ${v.text}${st.comment}`);
          else if (v.kind === "map" && v.flow) out.push(`${pad}${k}: ${flow(v)}${st.comment}`);
          else {
            out.push(`${pad}${k}:`);
            if (st.blank) out.push("");
            const inner = v.kind === "seq" && st.seqAtParent ? indent : indent + st.indent;
            out.push(...emit(v, inner, st));
          }
        }
        return out;
      }
      if (t.kind === "seq") {
        const out: string[] = [];
        const dash = `-${" ".repeat(st.dashSpaces)}`;
        for (const item of t.items) {
          if (item.kind === "scalar") out.push(`${pad}${dash}${item.text}`);
          else if (item.kind === "map" && !item.flow) {
            const lines = emit(item, indent + dash.length, st);
            out.push(`${pad}${dash}${(lines[0] as string).trimStart()}`, ...lines.slice(1));
          } else if (item.kind === "map") out.push(`${pad}${dash}${flow(item)}`);
          else {
            out.push(`${pad}-`);
            out.push(...emit(item, indent + st.indent, st));
          }
        }
        return out;
      }
      return [`${pad}${t.text}`];
    }

    function flow(t: Tree): string {
      if (t.kind === "scalar") return t.text;
      if (t.kind === "seq") return `[${t.items.map(flow).join(", ")}]`;
      return `{ ${t.pairs.map(([k, v]) => `${k}: ${flow(v)}`).join(", ")} }`;
    }
  });
});
