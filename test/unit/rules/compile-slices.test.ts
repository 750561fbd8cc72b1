import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { compileParsed, compileParsedInSlices } from "../../../src/rules/compile.js";
import { SERVING_PACE } from "../../../src/rules/pace.js";
import { parseRuleFile, type RuleFile } from "../../../src/rules/schema.js";
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
  });
});
