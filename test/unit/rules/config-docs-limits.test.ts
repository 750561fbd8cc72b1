/**
 * config/README.md, "Limits beyond the reference": each YAML example behaves as the text says (compiled, then
 * decided by the engine over the memory store on a fake clock), the documented Redis keys are the ones planned, the
 * /rlconfig block is the examples' dump, and the error table quotes every limits_* fixture's message.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { moduleOf } from "../../../src/algorithms/index.js";
import type { Descriptor, DescriptorStatus, RuleSet } from "../../../src/domain/types.js";
import { DEFAULT_ENGINE_OPTIONS } from "../../../src/engine/options.js";
import { planRequest } from "../../../src/engine/plan.js";
import { createRateLimiter } from "../../../src/engine/rate-limiter.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import { createMemoryStore } from "../../../src/store/memory-store.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const readme = readFileSync(fileURLToPath(new URL("../../../config/README.md", import.meta.url)), "utf8");
const invalidDir = fileURLToPath(new URL("../../fixtures/rules/invalid/", import.meta.url));
/** A minute-aligned instant that is 240 s into a 5-minute window. */
const T0 = 1_700_000_040_000;

function yamlBlock(domain: string): string {
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? "")
    .find((b) => b.startsWith(`domain: ${domain}\n`));
  if (block === undefined) throw new Error(`no YAML example for domain ${domain}`);
  return block;
}

function compile(domain: string): RuleSet {
  return compileRuleSet([{ name: "config.yaml", text: yamlBlock(domain) }], { mergeDomainConfig: false });
}

/** The engine over the memory store for one documented domain, on a fake clock. */
function example(domain: string) {
  const clock = new FakeClock(T0);
  const rules = compile(domain);
  const limiter = createRateLimiter({
    rules: { current: () => rules },
    store: createMemoryStore({ clock }),
    clock,
    options: DEFAULT_ENGINE_OPTIONS,
  });
  const ask = async (key: string, value: string, hits = 1): Promise<DescriptorStatus> => {
    const d: Descriptor = { entries: [{ key, value }], limit: undefined, hits, negative: false };
    return (await limiter.decide({ domain, descriptors: [d] })).statuses[0] as DescriptorStatus;
  };
  /** `n` requests; the [code, remaining] of each. */
  const run = async (key: string, value: string, n: number): Promise<[string, number][]> => {
    const out: [string, number][] = [];
    for (let i = 0; i < n; i++) {
      const s = await ask(key, value);
      out.push([s.code, s.limitRemaining]);
    }
    return out;
  };
  return { clock, ask, run };
}

const allOk = (seen: [string, number][]) => seen.every(([code]) => code === "OK");

describe("config/README.md: limits beyond the reference", () => {
  it("algorithm: the sliding window weights the previous window; the token bucket refills one every 6 s", async () => {
    const { clock, ask, run } = example("algorithms");
    expect(allOk(await run("api", "search", 100))).toBe(true);
    expect((await ask("api", "search")).code).toBe("OVER_LIMIT");
    clock.advance(75_000); // 15 s into the next minute: 100 × 45/60 = 75 still count
    expect(await ask("api", "search")).toMatchObject({ code: "OK", limitRemaining: 24 });
    expect(allOk(await run("api", "upload", 10))).toBe(true);
    expect(await ask("api", "upload")).toMatchObject({ code: "OVER_LIMIT", durationUntilResetSeconds: 6 });
    clock.advance(6_000);
    expect(await ask("api", "upload")).toMatchObject({ code: "OK", limitRemaining: 0 });
  });

  it("burst: 10 at once then one per second; the leaky bucket queues 100 and leaks 1 per second", async () => {
    const { clock, ask, run } = example("bursts");
    expect((await run("client", "c1", 11)).map(([code]) => code)).toEqual([...Array(10).fill("OK"), "OVER_LIMIT"]);
    expect((await ask("client", "c1")).durationUntilResetSeconds).toBe(1);
    clock.advance(1_000);
    expect((await ask("client", "c1")).code).toBe("OK");
    expect(allOk(await run("webhook", "w1", 100))).toBe(true);
    expect(await ask("webhook", "w1")).toMatchObject({ code: "OVER_LIMIT", durationUntilResetSeconds: 1 });
    // A refused request took nothing: a second later exactly one passes.
    clock.advance(1_000);
    expect((await run("webhook", "w1", 2)).map(([code]) => code)).toEqual(["OK", "OVER_LIMIT"]);
  });

  it("unit_multiplier: 3 per 5 epoch-aligned minutes; 15 per 15 s refilled one per second", async () => {
    const { clock, ask, run } = example("windows");
    expect(await run("report", "r1", 4)).toEqual([
      ["OK", 2],
      ["OK", 1],
      ["OK", 0],
      ["OVER_LIMIT", 0],
    ]);
    // T0 is 240 s into its 5-minute window.
    expect(await ask("report", "r1")).toMatchObject({ durationUntilResetSeconds: 60 });
    expect((await ask("report", "r1")).currentLimit).toEqual({ requestsPerUnit: 3, unit: "minute", name: undefined });
    clock.advance(60_000);
    expect((await ask("report", "r1")).limitRemaining).toBe(2);
    expect(allOk(await run("poll", "p1", 15))).toBe(true);
    expect(await ask("poll", "p1")).toMatchObject({ code: "OVER_LIMIT", durationUntilResetSeconds: 1 });
  });

  it("window_anchor: first_hit: 20 within 30 minutes of the first request", async () => {
    const { clock, ask, run } = example("anchors");
    clock.advance(123_000); // not aligned to anything
    expect(await ask("session", "s1")).toMatchObject({ code: "OK", durationUntilResetSeconds: 1800 });
    clock.advance(600_000);
    expect(allOk(await run("session", "s1", 19))).toBe(true);
    expect(await ask("session", "s1")).toMatchObject({ code: "OVER_LIMIT", durationUntilResetSeconds: 1200 });
    clock.advance(1_200_000);
    expect(await ask("session", "s1")).toMatchObject({
      code: "OK",
      limitRemaining: 19,
      durationUntilResetSeconds: 1800,
    });
  });

  it("budget: peek, charge in full into debt, refused once nothing is left", async () => {
    const { ask } = example("spend");
    expect(await ask("user", "u1", 0)).toMatchObject({ code: "OK", limitRemaining: 5000 });
    expect(await ask("user", "u1", 4999)).toMatchObject({ code: "OK", limitRemaining: 1 });
    expect(await ask("user", "u1", 0)).toMatchObject({ code: "OK", limitRemaining: 1 });
    expect(await ask("user", "u1", 250)).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
    expect((await ask("user", "u1", 0)).code).toBe("OVER_LIMIT");
    // Micro-dollars: a $4.999999 charge leaves one micro-dollar; the session spends it.
    expect(await ask("session", "s1", 4_999_999)).toMatchObject({ code: "OK", limitRemaining: 1 });
    expect(await ask("session", "s1", 1)).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
  });

  it("rate_limits: 10 per second and 1000 per day; reports the one that decided", async () => {
    const { clock, ask, run } = example("multi");
    expect((await ask("api_key", "k1")).currentLimit).toEqual({ requestsPerUnit: 10, unit: "second", name: undefined });
    expect(allOk(await run("api_key", "k1", 9))).toBe(true);
    expect(await ask("api_key", "k1")).toMatchObject({ code: "OVER_LIMIT", durationUntilResetSeconds: 1 });
    clock.advance(1_000);
    expect((await run("api_key", "k2", 1000)).filter(([code]) => code === "OK")).toHaveLength(10);
    // 10 per second for 99 more seconds: the day's 1000 are spent (refused requests counted nothing).
    for (let s = 0; s < 99; s++) {
      clock.advance(1_000);
      expect(allOk(await run("api_key", "k2", 10))).toBe(true);
    }
    clock.advance(1_000);
    const over = await ask("api_key", "k2");
    expect(over).toMatchObject({ code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 1000, name: "daily" } });
  });

  it("names the Redis keys the store is given", () => {
    const keys = (domain: string, k: string, v: string, i = 0): readonly string[] => {
      const d: Descriptor = { entries: [{ key: k, value: v }], limit: undefined, hits: 1, negative: false };
      const op = planRequest({ domain, descriptors: [d] }, compile(domain), T0, "").ops[i];
      if (op === undefined) throw new Error(`no op ${i} for ${domain}`);
      return moduleOf(op).keys(op);
    };
    const documented = [
      ...keys("multi", "api_key", "k1"),
      ...keys("multi", "api_key", "k1", 1),
      ...keys("bursts", "client", "c1"),
      ...keys("algorithms", "api", "search"),
    ];
    expect(documented).toEqual([
      "{multi_api_key_k1_}fw1_1700000040",
      "{multi_api_key_k1_}fw86400_daily_1699920000",
      "{bursts_client_c1_}tb60",
      "{algorithms_api_search_}sw60_1700000040",
      "{algorithms_api_search_}sw60_1699999980",
    ]);
    for (const k of documented.slice(0, 4)) expect(readme).toContain(`\`${k}\``);
    expect(readme).toContain("`…_1699999980`");
    // A single epoch fixed window keeps the reference's key, with the N-unit window start.
    expect(keys("windows", "report", "r1")).toEqual(["windows_report_r1_1699999800"]);
  });

  it("README.md: the example of its Limits beyond the reference section loads and reports its key", () => {
    const root = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
    const text = /## Limits beyond the reference[\s\S]*?```yaml\n([\s\S]*?)```/.exec(root)?.[1] ?? "";
    const rules = compileRuleSet([{ name: "config.yaml", text }], { mergeDomainConfig: false });
    expect(rules.dump()).toBe(
      "llm.user: unit=MINUTE requests_per_unit=60 algorithm=token_bucket burst=10, shadow_mode: false\n" +
        "llm.user: unit=DAY requests_per_unit=1000, shadow_mode: false\n",
    );
    const d: Descriptor = { entries: [{ key: "user", value: "42" }], limit: undefined, hits: 1, negative: false };
    const op = planRequest({ domain: "llm", descriptors: [d] }, rules, T0, "").ops[0];
    if (op === undefined) throw new Error("no op");
    expect(moduleOf(op).keys(op)).toEqual(["{llm_user_42_}tb60"]);
  });

  it("shows the /rlconfig lines of the bursts, spend and multi examples", () => {
    const dump = ["bursts", "spend", "multi"].map((d) => compile(d).dump()).join("");
    const texts = [...readme.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(texts).toContain(dump);
  });

  it("quotes the message of every limits_* fixture in the error table", () => {
    const table = readme.replaceAll("\\|", "|");
    const fixtures = readdirSync(invalidDir).filter((f) => f.startsWith("limits_"));
    expect(fixtures.length).toBeGreaterThanOrEqual(16);
    for (const f of fixtures) {
      const error = /^# error: (.*)$/m.exec(readFileSync(`${invalidDir}${f}`, "utf8"))?.[1] ?? "";
      const detail = error.slice(error.indexOf(": ") + 2);
      expect(table, f).toContain(`\`${detail}\``);
      expect(() =>
        compileRuleSet([{ name: f, text: readFileSync(`${invalidDir}${f}`, "utf8") }], {
          mergeDomainConfig: false,
        }),
      ).toThrow(`${f}: ${error}`);
    }
  });
});
