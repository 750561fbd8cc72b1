import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { compileParsed, compileParsedInSlices } from "../../../src/rules/compile.js";
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
    const sliced = await compileParsedInSlices(files, parsed, { mergeDomainConfig: false }, 0);
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
      compileParsedInSlices(files, parsed, { mergeDomainConfig: false }, 0),
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
    await expect(compileParsedInSlices(withDuplicate, parsedBad, { mergeDomainConfig: false }, 0)).rejects.toThrow(
      (expected as Error).message,
    );
  });
});
