import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { createRuleHolder, originIn, type RuleFeed, type RuleHolder } from "../../../src/reload/holder.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import type { RuleFile } from "../../../src/rules/schema.js";

function file(name: string, domain: string, rpu: number): RuleFile {
  return {
    name,
    text: `domain: ${domain}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`,
  };
}

/** What a source does: compile its files, publish, report a failure. */
function load(feed: RuleFeed, files: RuleFile[]) {
  try {
    return feed.publish(compileRuleSet(files, { mergeDomainConfig: true }), originIn(files));
  } catch (err) {
    feed.reject(err as Error);
    throw err;
  }
}

const limit = (holder: RuleHolder, domain: string): number | undefined =>
  holder.current()?.findRule(domain, [{ key: "k", value: "v" }])?.limits[0]?.requestsPerUnit;

describe("createRuleHolder()", () => {
  it("serves nothing until every registered source has loaded, then merges them by domain", () => {
    const holder = createRuleHolder();
    const files = holder.register("file");
    const xds = holder.register("xds");
    load(files, [file("a.yaml", "alpha", 1)]);
    expect(holder.current()).toBeUndefined();
    expect(holder.ready()).toBe(false);
    const published = load(xds, [file("res-b", "beta", 2)]);
    expect(holder.ready()).toBe(true);
    expect(published.current?.domains).toEqual(["alpha", "beta"]);
    expect(limit(holder, "alpha")).toBe(1);
    expect(limit(holder, "beta")).toBe(2);
    expect(holder.current()?.hasDomain("gamma")).toBe(false);
    expect(holder.current()?.dump()).toBe(
      "alpha.k: unit=SECOND requests_per_unit=1, shadow_mode: false\nbeta.k: unit=SECOND requests_per_unit=2, shadow_mode: false\n",
    );
    expect(holder.stats).toEqual({ loadSuccess: 2, loadError: 0 });
  });

  it("rejects a domain defined by two sources, naming both, and keeps the last good rules", () => {
    const holder = createRuleHolder();
    const files = holder.register("file");
    const xds = holder.register("xds");
    load(files, [file("a.yaml", "alpha", 1)]);
    load(xds, [file("res-b", "beta", 2)]);
    const before = holder.current();
    let caught: unknown;
    try {
      load(xds, [file("res-b", "beta", 3), file("res-a", "alpha", 9)]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe(
      "res-a: domain: domain 'alpha' is also defined by the file source (a.yaml); a domain must come from one source only",
    );
    expect(holder.current()).toBe(before);
    expect(limit(holder, "beta")).toBe(2);
    expect(holder.stats).toEqual({ loadSuccess: 2, loadError: 1 });
    expect(holder.lastError).toBe(caught);
    // The same conflict from the other side is the file source's error.
    expect(() => load(files, [file("b.yaml", "beta", 5)])).toThrow(
      /domain 'beta' is also defined by the xds source \(res-b\)/,
    );
    load(xds, [file("res-b", "beta", 4)]);
    expect(limit(holder, "beta")).toBe(4);
    expect(holder.lastError?.message).toMatch(/^b\.yaml: domain: domain 'beta'/);
  });

  it("keeps the last good rules when a source reports a failure, and counts it", () => {
    const holder = createRuleHolder();
    const feed = holder.register("file");
    const first = load(feed, [file("a.yaml", "alpha", 1)]);
    expect(first.previousVersion).toBeUndefined();
    expect(() =>
      load(feed, [
        { name: "a.yaml", text: "domain: alpha\ndescriptors:\n  - key: k\n    rate_limit: {unit: fortnight}\n" },
      ]),
    ).toThrow(ConfigError);
    expect(limit(holder, "alpha")).toBe(1);
    feed.reject(new Error("cannot read the rules directory (ENOENT)"));
    expect(holder.stats).toEqual({ loadSuccess: 1, loadError: 2 });
    expect(holder.lastError?.message).toBe("cannot read the rules directory (ENOENT)");
    const second = load(feed, [file("a.yaml", "alpha", 7)]);
    expect(second.previousVersion).toBe(first.own.version);
    expect(holder.lastError).toBeUndefined();
    expect(limit(holder, "alpha")).toBe(7);
  });

  it("refuses to register one source twice", () => {
    const holder = createRuleHolder();
    holder.register("xds");
    expect(() => holder.register("xds")).toThrow(/registered twice/);
  });
});
