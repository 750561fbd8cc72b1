import { describe, expect, it } from "vitest";
import type { RuleSource } from "../../../src/domain/ports.js";
import type { RuleSet } from "../../../src/domain/types.js";
import { createHealth } from "../../../src/transport/health.js";

function ruleSet(domains: string[]): RuleSet {
  return {
    version: "1",
    domains,
    hasDomain: (d) => domains.includes(d),
    findRule: () => undefined,
    dump: () => "",
  };
}

function source(initial: RuleSet | undefined): RuleSource & { set(r: RuleSet | undefined): void } {
  let current = initial;
  return { current: () => current, set: (r) => (current = r) };
}

describe("createHealth()", () => {
  it("starts healthy without rules when no config is required (reference default)", () => {
    expect(createHealth({ requireConfig: false, rules: source(undefined) }).isHealthy()).toBe(true);
  });

  it("with HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED, is healthy only once rules with a domain are loaded", () => {
    const rules = source(undefined);
    const health = createHealth({ requireConfig: true, rules });
    expect(health.isHealthy()).toBe(false);
    rules.set(ruleSet([]));
    expect(health.isHealthy()).toBe(false);
    rules.set(ruleSet(["d"]));
    expect(health.isHealthy()).toBe(true);
  });

  it("turns unhealthy for good once sigterm fails", () => {
    const health = createHealth({ requireConfig: false, rules: source(undefined) });
    health.set("sigterm", false);
    expect(health.isHealthy()).toBe(false);
  });

  it("is healthy only when every registered component is", () => {
    const health = createHealth({ requireConfig: false, rules: source(undefined) });
    health.set("redis", false);
    expect(health.isHealthy()).toBe(false);
    health.set("redis", true);
    expect(health.isHealthy()).toBe(true);
  });

  it("notifies subscribers of component changes at once, and only of changes", () => {
    const health = createHealth({ requireConfig: false, rules: source(undefined) });
    const seen: boolean[] = [];
    const unsubscribe = health.subscribe((h) => seen.push(h));
    health.set("redis", false);
    health.set("redis", false);
    health.set("redis", true);
    unsubscribe();
    health.set("redis", false);
    expect(seen).toEqual([false, true]);
    health.close();
  });

  it("notifies subscribers when a config loads (polled: it changes without an event)", async () => {
    const rules = source(undefined);
    const health = createHealth({ requireConfig: true, rules, pollMs: 5 });
    const changed = new Promise<boolean>((resolve) => health.subscribe(resolve));
    rules.set(ruleSet(["d"]));
    await expect(changed).resolves.toBe(true);
    health.close();
  });
});
