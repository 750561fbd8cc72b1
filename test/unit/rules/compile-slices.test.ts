import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import {
  compileParsed,
  compileParsedInSlices,
  compileStreamInSlices,
  type ParsedSource,
} from "../../../src/rules/compile.js";
import { SERVING_PACE } from "../../../src/rules/pace.js";
import { parseRuleFile, type RawRuleFile, type RuleFile } from "../../../src/rules/schema.js";
import { loopTurnsDuring } from "../../helpers/loop-turns.js";

/** `count` rules in one domain, two levels deep, so the compile recurses. */
function bigFile(count: number, domain = "big"): RuleFile {
  let text = `domain: ${domain}\ndescriptors:\n`;
  for (let i = 0; i < count; i++) {
    text += `  - key: user\n    value: u${i}\n    descriptors:\n      - key: path\n        rate_limit: { unit: minute, requests_per_unit: ${i + 1} }\n`;
  }
  return { name: `${domain}.yaml`, text };
}

describe("compileParsedInSlices()", () => {
  const files = [bigFile(3_000), bigFile(10, "small")];
  const parsed = files.map((f) => parseRuleFile(f));

  it("builds the same rule set as the one-piece compile", async () => {
    const whole = compileParsed(files, parsed, { mergeDomainConfig: false });
    const sliced = await compileParsedInSlices(
      files,
      parsed,
      { mergeDomainConfig: false },
      { sliceMs: 0, gapMs: 0, chunkRules: 1 },
    );
    expect(sliced.version).toBe(whole.version);
    expect(sliced.dump()).toBe(whole.dump());
    expect(
      sliced.findRule("big", [
        { key: "user", value: "u2999" },
        { key: "path", value: "/x" },
      ])?.limits[0],
    ).toMatchObject({ requestsPerUnit: 3000, unit: "minute" });
  });

  it("gives the event loop back between slices", async () => {
    const { turns } = await loopTurnsDuring(() =>
      compileParsedInSlices(files, parsed, { mergeDomainConfig: false }, { sliceMs: 0, gapMs: 0, chunkRules: 1 }),
    );
    // 3,010 descriptor items, 6,010 with their children, looked at every 64 steps with a slice of 0 ms.
    expect(turns).toBeGreaterThan(50);
  });

  it("rejects with the same ConfigError as the one-piece compile", async () => {
    const bad = {
      name: "dup.yaml",
      text: "domain: big\ndescriptors:\n  - key: a\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n",
    };
    const withDuplicate = [...files, bad];
    const parsedBad = withDuplicate.map((f) => parseRuleFile(f));
    const expected = (() => {
      try {
        compileParsed(withDuplicate, parsedBad, { mergeDomainConfig: false });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(expected).toBeInstanceOf(ConfigError);
    await expect(
      compileParsedInSlices(
        withDuplicate,
        parsedBad,
        { mergeDomainConfig: false },
        { sliceMs: 0, gapMs: 0, chunkRules: 1 },
      ),
    ).rejects.toThrow((expected as Error).message);
  });

  describe("at the serving pace", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("waits the pace's gap between slices, on a timer, so calls get the loop for that long", async () => {
      // The clock stands still and slices are 0 ms, so every look at it (each 64 steps) ends a slice.
      vi.useFakeTimers({ toFake: ["setTimeout", "setImmediate", "performance"] });
      const pace = { ...SERVING_PACE, sliceMs: 0 };
      let done = false;
      const compile = compileParsedInSlices(files, parsed, { mergeDomainConfig: false }, pace).then((set) => {
        done = true;
        return set;
      });
      await vi.advanceTimersByTimeAsync(SERVING_PACE.gapMs - 1);
      expect(done).toBe(false); // still in its first gap
      let gaps = 1;
      while (!done) {
        await vi.advanceTimersByTimeAsync(SERVING_PACE.gapMs);
        gaps++;
      }
      // 6,010 steps (descriptor items with their children), a gap after every 64th, plus the last.
      expect(gaps).toBeGreaterThanOrEqual(Math.floor(6_010 / 64));
      expect((await compile).dump()).toBe(compileParsed(files, parsed, { mergeDomainConfig: false }).dump());
    });

    it("also pauses after indexing each domain, a step much longer than one item", async () => {
      vi.useFakeTimers({ toFake: ["setTimeout", "setImmediate", "performance"] });
      const small = ["a", "b", "c"].map((d) => ({
        name: `${d}.yaml`,
        text: `domain: ${d}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n`,
      }));
      const parsedSmall = small.map((f) => parseRuleFile(f));
      let done = false;
      void compileParsedInSlices(
        small,
        parsedSmall,
        { mergeDomainConfig: false },
        { ...SERVING_PACE, sliceMs: 0 },
      ).then(() => {
        done = true;
      });
      let gaps = 0;
      for (; !done && gaps < 100; gaps++) await vi.advanceTimersByTimeAsync(SERVING_PACE.gapMs);
      // 3 items (fewer than 64 steps: no pause for them), then one pause per domain's index.
      expect(gaps).toBe(3);
    });
  });

  describe("from a stream of parts", () => {
    /** Hands each file's descriptors out `size` at a time, asynchronously, and logs what was asked. */
    function partsOf(parsedFiles: readonly RawRuleFile[], size: number) {
      const asked: string[] = [];
      const cursors = parsedFiles.map(() => 0);
      const source: ParsedSource = {
        files: parsedFiles.map(({ name, domain }) => ({ name, domain })),
        async nextPart(index) {
          await Promise.resolve();
          const all = parsedFiles[index]?.descriptors ?? [];
          const from = cursors[index] ?? 0;
          asked.push(`${index}@${from}`);
          if (from >= all.length) return undefined;
          cursors[index] = from + size;
          return all.slice(from, from + size);
        },
      };
      return { source, asked };
    }
    const pace = { sliceMs: 0, gapMs: 0, chunkRules: 1 };

    it("builds the same rule set as the one-piece compile, asking for parts file by file, in order", async () => {
      const empty = { name: "empty.yaml", text: "domain: empty\n" };
      const all = [files[0] as RuleFile, empty, files[1] as RuleFile];
      const allParsed = all.map((f) => parseRuleFile(f));
      const { source, asked } = partsOf(allParsed, 1_000);
      const streamed = await compileStreamInSlices(all, source, { mergeDomainConfig: false }, pace);
      const whole = compileParsed(all, allParsed, { mergeDomainConfig: false });
      expect(streamed.version).toBe(whole.version);
      expect(streamed.dump()).toBe(whole.dump());
      // 3,000 items in parts of 1,000, then the end of the file; the empty file; the 10 items of the small one.
      expect(asked).toEqual(["0@0", "0@1000", "0@2000", "0@3000", "1@0", "2@0", "2@1000"]);
    });

    it("merges a domain across files and rejects as the one-piece compile does, wherever the bad part is", async () => {
      const file = (name: string, keys: string[]): RuleFile => ({
        name,
        text: `domain: d\ndescriptors:\n${keys.map((k) => `  - key: ${k}\n    rate_limit: {unit: second, requests_per_unit: 1}\n`).join("")}`,
      });
      const a = file("a.yaml", ["a", "b", "c"]);
      const b = file("b.yaml", ["e", "f"]);
      // b2.yaml's second item repeats a.yaml's `b`: with merging, a duplicate composite key found in its second part.
      const b2 = file("b2.yaml", ["e", "b"]);
      const outcome = async (set: RuleFile[], mergeDomainConfig: boolean) => {
        const parsedSet = set.map((f) => parseRuleFile(f));
        const whole = (() => {
          try {
            return compileParsed(set, parsedSet, { mergeDomainConfig }).dump();
          } catch (err) {
            return err instanceof ConfigError ? `error: ${err.message}` : err;
          }
        })();
        const streamed = await compileStreamInSlices(set, partsOf(parsedSet, 1).source, { mergeDomainConfig }, pace)
          .then((r) => r.dump())
          .catch((err: unknown) => (err instanceof ConfigError ? `error: ${err.message}` : err));
        return { whole, streamed };
      };
      const merged = await outcome([a, b], true);
      expect(merged.streamed).toBe(merged.whole);
      expect(merged.whole).toContain("d.f: ");
      const duplicateKey = await outcome([a, b2], true);
      expect(duplicateKey.streamed).toBe(duplicateKey.whole);
      expect(duplicateKey.whole).toBe("error: b2.yaml: descriptors[1]: duplicate descriptor composite key 'd.b'");
      const duplicateDomain = await outcome([a, b], false);
      expect(duplicateDomain.streamed).toBe(duplicateDomain.whole);
      expect(duplicateDomain.whole).toMatch(/^error: b\.yaml: domain: duplicate domain 'd'/);
    });
  });
});
