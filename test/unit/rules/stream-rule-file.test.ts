import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRuleSet } from "../../../src/rules/compile.js";
import { chunkItems } from "../../../src/rules/item-chunks.js";
import { packRuleFiles, packRules } from "../../../src/rules/pack.js";
import { type ConfigWarning, parseRuleFile, type RuleFile, streamRuleFile } from "../../../src/rules/schema.js";

/** The file as its pieces give it back: the skeleton with the items put back where they were cut out. */
function reassembled(text: string): string | undefined {
  const chunks = chunkItems(text);
  if (chunks === undefined) return undefined;
  const items = [...chunks.items].join("");
  const at = text.indexOf(items);
  return chunks.skeleton.slice(0, at) + items + chunks.skeleton.slice(at);
}

/** packRuleFiles' outcome: the packed rules and warnings, or the error's message. */
function packed(files: readonly RuleFile[], mergeDomainConfig = false, maxRules = 100_000): unknown {
  try {
    const { packed, warnings, wholeChars } = packRuleFiles(files, { mergeDomainConfig, maxRules });
    // What was not streamed is counted as read whole.
    const whole = files.filter((f) => !streams(f)).reduce((n, f) => n + f.text.length, 0);
    expect(wholeChars).toBe(whole);
    return { packed, warnings };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The same outcome, every file read whole: compileRuleSet's error or warnings, and packRules over parseRuleFile. */
function readWhole(files: readonly RuleFile[], mergeDomainConfig = false): unknown {
  try {
    const warnings: ConfigWarning[] = [];
    compileRuleSet(files, { mergeDomainConfig, onWarning: (w) => warnings.push(w) });
    const parsed = files.map((f) => parseRuleFile(f));
    return { packed: packRules(files, parsed, { mergeDomainConfig }), warnings };
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether streamRuleFile reads `file` to its end itself. */
function streams(file: RuleFile): boolean {
  try {
    const streamed = streamRuleFile(file);
    return streamed !== undefined && [...streamed.items].every((item) => item !== undefined);
  } catch {
    return false;
  }
}

describe("chunkItems()", () => {
  it.each([
    ["the usual layout", "domain: d\ndescriptors:\n  - key: a\n    value: b\n  - key: c\n", 2],
    ["a sequence at its key's indentation", "domain: d\ndescriptors:\n- key: a\n  value: b\n- key: c\n", 2],
    ["keys after the sequence", "descriptors:\n  - key: a\n  - key: c\ndomain: d\nunit: second\n", 2],
    [
      "comments and blank lines",
      "# top\ndomain: d\ndescriptors: # list\n\n  # first\n  - key: a\n\n# x\n  - key: c\n",
      2,
    ],
    ["no newline at the end", "domain: d\ndescriptors:\n  - key: a", 1],
  ])("cuts %s into a skeleton and its items, losing nothing", (_title, text, count) => {
    const chunks = chunkItems(text);
    expect(chunks).toBeDefined();
    expect([...(chunks?.items ?? [])]).toHaveLength(count);
    expect(reassembled(text)).toBe(text);
  });

  it("gives the skeleton every line outside the sequence", () => {
    const chunks = chunkItems("domain: d\ndescriptors:\n  - key: a\n  - key: b\nunit: x\n");
    expect(chunks?.skeleton).toBe("domain: d\ndescriptors:\nunit: x\n");
    expect([...(chunks?.items ?? [])]).toEqual(["  - key: a\n", "  - key: b\n"]);
  });

  it.each([
    ["no descriptors key", "domain: d\n"],
    ["a flow sequence", "domain: d\ndescriptors: [{key: a}]\n"],
    ["a mapping under descriptors", "domain: d\ndescriptors:\n  key: a\n"],
    ["no items", "domain: d\ndescriptors:\n"],
    ["a quoted key", 'domain: d\n"descriptors":\n  - key: a\n'],
    ["a line between the root's indentation and the sequence's", "descriptors:\n    - key: a\n  x: 1\n"],
  ])("leaves %s whole", (_title, text) => {
    expect(chunkItems(text)).toBeUndefined();
  });
});

describe("streamRuleFile() and packRuleFiles()", () => {
  const big = (domain: string, from: number, count: number): string => {
    let text = `domain: ${domain}\ndescriptors:\n`;
    for (let i = from; i < from + count; i++) {
      text += `  - key: user\n    value: u${i}\n    rate_limit: { unit: minute, requests_per_unit: ${i} }\n`;
    }
    return text;
  };

  it("reads the usual layout item by item, as parseRuleFile reads it whole", () => {
    const file = {
      name: "a.yaml",
      text: `${big("a", 0, 50)}  - key: ip\n    unit: second\n    descriptors:\n      - key: p\n`,
    };
    const warnings: ConfigWarning[] = [];
    const streamed = streamRuleFile(file, (w) => warnings.push(w));
    expect(streamed?.domain).toBe("a");
    const items = [...(streamed?.items ?? [])];
    const wholeWarnings: ConfigWarning[] = [];
    expect(items).toEqual(parseRuleFile(file, (w) => wholeWarnings.push(w)).descriptors);
    expect(warnings).toEqual(wholeWarnings);
    expect(warnings).toHaveLength(1);
  });

  it("stops at an item outside the plain subset, and packing then reads the file whole", () => {
    // An anchor and its alias: yaml's to read, and valid.
    const text = `${big("a", 0, 20)}  - key: k\n    value: &v shared\n  - key: j\n    value: *v\n${big("x", 20, 5).split("descriptors:\n")[1]}`;
    const file = { name: "a.yaml", text };
    const items = [...(streamRuleFile(file)?.items ?? [])];
    expect(items).toHaveLength(21);
    expect(items[20]).toBeUndefined();
    const other = { name: "b.yaml", text: big("a", 100, 10) };
    // In a merged domain, after a file that streamed: nothing of the abandoned stream is left behind.
    for (const files of [[file], [other, file], [file, other]]) {
      expect(packed(files, true)).toEqual(readWhole(files, true));
    }
    expect(packed([other, file], true)).not.toBeTypeOf("string");
  });

  it.each([
    [
      "a compile error before a syntax error",
      `${big("a", 0, 5)}  - key: user\n    value: u1\n  - key: b\n    value: "x\n`,
    ],
    ["a duplicate key across merged files", big("a", 2, 5)],
    [
      "a shape error after a compile error",
      `${big("a", 0, 5)}  - key: user\n    value: u1\n  - key: b\n    unknown: 1\n`,
    ],
    ["a float", `${big("a", 0, 5)}  - key: b\n    rate_limit: {unit: second, requests_per_unit: 1.5}\n`],
  ])("reports what compileRuleSet reports: %s", (_title, text) => {
    const files = [
      { name: "first.yaml", text: big("a", 0, 3) },
      { name: "second.yaml", text },
    ];
    const expected = readWhole(files, true);
    expect(expected).toBeTypeOf("string");
    expect(packed(files, true)).toBe(expected);
  });

  it("counts rules item by item and names the file that goes over", () => {
    const files = [
      { name: "a.yaml", text: big("a", 0, 10) },
      { name: "b.yaml", text: big("b", 0, 10) },
    ];
    expect(streams(files[1] as RuleFile)).toBe(true);
    expect(packed(files, false, 20)).not.toBeTypeOf("string");
    expect(packed(files, false, 19)).toBe("b.yaml: rule files together hold more than 19 rules");
  });

  it("agrees with reading every file whole on generated rule files", () => {
    const value = fc.oneof(
      { arbitrary: fc.constantFrom("u1", "u2", "u3", "x*", "a*b", "7", "yes", "'q'"), weight: 20 },
      { arbitrary: fc.constantFrom('"d\\tq"', "1.5", "&a v", "*a", "a b", "|", "[x]", "010"), weight: 1 },
    );
    const limit = fc.record({
      unit: fc.constantFrom("minute", "second", "HOUR", "fortnight"),
      n: fc.nat({ max: 1000 }),
      style: fc.constantFrom("flow", "block"),
    });
    const item = fc.record({
      key: fc.constantFrom("user", "ip", "path", ""),
      value: fc.option(value, { nil: undefined }),
      limit: fc.option(limit, { nil: undefined }),
      shadow: fc.boolean(),
      misplaced: fc.boolean(),
      children: fc.array(fc.record({ key: fc.constantFrom("a", "b"), value: fc.option(value, { nil: undefined }) }), {
        maxLength: 2,
      }),
    });
    type Item = typeof item extends fc.Arbitrary<infer T> ? T : never;
    const style = fc.record({
      indent: fc.constantFrom(0, 2, 4),
      comment: fc.constantFrom("", " # note"),
      blank: fc.boolean(),
      domainLast: fc.boolean(),
      topWarning: fc.boolean(),
    });
    const emit = (domain: string, items: Item[], st: typeof style extends fc.Arbitrary<infer T> ? T : never) => {
      const pad = " ".repeat(st.indent);
      const lines: string[] = [];
      for (const it of items) {
        lines.push(`${pad}- key: ${it.key}${st.comment}`);
        if (it.value !== undefined) lines.push(`${pad}  value: ${it.value}`);
        if (it.limit !== undefined) {
          if (it.limit.style === "flow") {
            lines.push(`${pad}  rate_limit: {unit: ${it.limit.unit}, requests_per_unit: ${it.limit.n}}`);
          } else {
            lines.push(
              `${pad}  rate_limit:`,
              `${pad}    unit: ${it.limit.unit}`,
              `${pad}    requests_per_unit: ${it.limit.n}`,
            );
          }
        }
        if (it.shadow) lines.push(`${pad}  shadow_mode: true`);
        if (it.misplaced) lines.push(`${pad}  unit: second`);
        if (it.children.length > 0) {
          lines.push(`${pad}  descriptors:`);
          for (const c of it.children) {
            lines.push(`${pad}    - key: ${c.key}`);
            if (c.value !== undefined) lines.push(`${pad}      value: ${c.value}`);
          }
        }
        if (st.blank) lines.push("");
      }
      const top = st.topWarning ? ["unit: second"] : [];
      const body = ["descriptors:", ...lines];
      const head = [`domain: ${domain}`];
      return `${(st.domainLast ? [...top, ...body, ...head] : [...head, ...top, ...body]).join("\n")}\n`;
    };
    let streamed = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.array(item, { minLength: 1, maxLength: 6 }), style), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.boolean(),
        (specs, merge) => {
          const files = specs.map(([domain, items, st], i) => ({ name: `f${i}.yaml`, text: emit(domain, items, st) }));
          runs++;
          if (files.every(streams)) streamed++;
          expect(packed(files, merge)).toEqual(readWhole(files, merge));
        },
      ),
      { numRuns: 1_000 },
    );
    // The generator must exercise the stream, not only its refusals.
    expect(streamed).toBeGreaterThan(runs / 4);
  });
});
