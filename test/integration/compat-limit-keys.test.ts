/**
 * Sluice's rule keys beyond envoyproxy/ratelimit, black box: `node dist/main.js` (memory backend) and an independent
 * Envoy client. Each key gets an allowed and a limited case; each load error of these keys (the fixtures
 * test/fixtures/rules/invalid/limits_*.yaml, whose first line holds the expected error) is reported with the file and
 * YAML path while the last good rules keep serving. Windows are hours or longer, so no answer depends on the clock
 * except the reset times, which are checked against the clock sampled around each call.
 */
import { readdirSync, readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useCompat } from "../helpers/compat-process.js";
import { descriptor as d, resetAt, type WireDescriptor, type WireStatus } from "../helpers/envoy-client.js";
import { waitFor } from "../helpers/service.js";
import { REPO } from "../helpers/sluice-process.js";

const RULES = `domain: keys
descriptors:
  - key: sliding
    rate_limit: {unit: hour, requests_per_unit: 3, algorithm: sliding_window}
  - key: bucket
    rate_limit: {unit: hour, requests_per_unit: 1, algorithm: token_bucket, burst: 3}
  - key: leaky
    rate_limit: {unit: hour, requests_per_unit: 2, algorithm: leaky_bucket}
  - key: multiplied
    rate_limit: {unit: minute, unit_multiplier: 120, requests_per_unit: 2}
  - key: session
    rate_limit: {unit: hour, requests_per_unit: 2, window_anchor: first_hit}
  - key: budget
    rate_limit: {unit: day, requests_per_unit: 10, budget: true}
  - key: both
    rate_limits:
      - {unit: hour, requests_per_unit: 10, name: hourly}
      - {unit: day, requests_per_unit: 3, name: daily, algorithm: sliding_window}
`;

const HOUR = 3_600;
const compat = useCompat({ rules: { "config.yaml": RULES } });

async function ask(desc: WireDescriptor): Promise<WireStatus & { seconds: number; before: number; after: number }> {
  const before = Date.now();
  const res = await compat.envoy.ask({ domain: "keys", descriptors: [desc] });
  const s = res.statuses[0] as WireStatus;
  expect(res.overall_code).toBe(s.code);
  return { ...s, seconds: Number(s.duration_until_reset?.seconds ?? -1), before, after: Date.now() };
}

async function codes(desc: WireDescriptor, n: number): Promise<[string, number][]> {
  const out: [string, number][] = [];
  for (let i = 0; i < n; i++) {
    const s = await ask(desc);
    out.push([s.code, s.limit_remaining]);
  }
  return out;
}

const hits = (n: number, extra: Omit<WireDescriptor, "entries"> = {}) => ({ hits_addend: { value: n }, ...extra });

describe("rule keys beyond the reference", () => {
  it("algorithm: sliding_window admits 3 per hour, then refuses without counting", async () => {
    expect(await codes(d("sliding", "a"), 5)).toEqual([
      ["OK", 2],
      ["OK", 1],
      ["OK", 0],
      ["OVER_LIMIT", 0],
      ["OVER_LIMIT", 0],
    ]);
    expect((await ask(d("sliding", "b"))).current_limit).toEqual({ requests_per_unit: 3, unit: "HOUR", name: "" });
  });

  it("algorithm: token_bucket with burst: 3 at once, then one per hour; Retry after about an hour", async () => {
    expect(await codes(d("bucket", "a"), 3)).toEqual([
      ["OK", 2],
      ["OK", 1],
      ["OK", 0],
    ]);
    const over = await ask(d("bucket", "a"));
    expect([over.code, over.limit_remaining]).toEqual(["OVER_LIMIT", 0]);
    // One token takes an hour; the burst was taken within the last few seconds.
    expect(over.seconds).toBeGreaterThan(HOUR - 60);
    expect(over.seconds).toBeLessThanOrEqual(HOUR);
    // While allowed, the reset is the time to a full bucket: one request from fresh took one token (an hour).
    const fresh = await ask(d("bucket", "b"));
    expect([fresh.code, fresh.limit_remaining, fresh.seconds]).toEqual(["OK", 2, HOUR]);
  });

  it("algorithm: leaky_bucket is the same meter: capacity requests_per_unit by default, one leaks every 30 min", async () => {
    expect(await codes(d("leaky", "a"), 3)).toEqual([
      ["OK", 1],
      ["OK", 0],
      ["OVER_LIMIT", 0],
    ]);
    const over = await ask(d("leaky", "a"));
    expect(over.seconds).toBeGreaterThan(HOUR / 2 - 60);
    expect(over.seconds).toBeLessThanOrEqual(HOUR / 2);
  });

  it("unit_multiplier: 120 minutes is a 2-hour window aligned to the epoch", async () => {
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await ask(d("multiplied", "a")));
    expect(seen.map((s) => [s.code, s.limit_remaining])).toEqual([
      ["OK", 1],
      ["OK", 0],
      ["OVER_LIMIT", 0],
    ]);
    const last = seen[2] as (typeof seen)[number];
    expect([resetAt(last.before, 2 * HOUR), resetAt(last.after, 2 * HOUR)]).toContain(last.seconds);
    expect(last.current_limit).toEqual({ requests_per_unit: 2, unit: "MINUTE", name: "" });
  });

  it("window_anchor: first_hit starts the window at the key's first hit", async () => {
    const first = await ask(d("session", "a"));
    expect([first.code, first.limit_remaining, first.seconds]).toEqual(["OK", 1, HOUR]);
    await ask(d("session", "a"));
    const over = await ask(d("session", "a"));
    expect([over.code, over.limit_remaining]).toEqual(["OVER_LIMIT", 0]);
    expect(over.seconds).toBeGreaterThan(HOUR - 60);
    expect(over.seconds).toBeLessThanOrEqual(HOUR);
  });

  it("budget: true charges in full into debt; a check (hits 0) needs one unit left; refunds pay the debt back", async () => {
    const key = (extra: Omit<WireDescriptor, "entries">) => d("budget", "a", extra);
    const seen: [string, number][] = [];
    for (const desc of [hits(0), hits(8), hits(5), hits(0), hits(3, { is_negative_hits: true }), hits(0)]) {
      const s = await ask(key(desc));
      seen.push([s.code, s.limit_remaining]);
    }
    expect(seen).toEqual([
      ["OK", 10], // peek on a fresh budget
      ["OK", 2], // charge 8
      ["OVER_LIMIT", 0], // charge 5: recorded in full (13 of 10 used)
      ["OVER_LIMIT", 0], // peek: nothing left
      ["OK", 0], // refund 3: 10 of 10 used
      ["OVER_LIMIT", 0], // still nothing left
    ]);
    const s = await ask(key(hits(1, { is_negative_hits: true })));
    expect([s.code, s.limit_remaining]).toEqual(["OK", 1]);
    expect((await ask(key(hits(0)))).code).toBe("OK");
  });

  it("rate_limits: every limit applies; the answer reports the one with least remaining, or the refusing one", async () => {
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await ask(d("both", "a")));
    expect(seen.map((s) => [s.code, s.limit_remaining, s.current_limit?.name])).toEqual([
      ["OK", 2, "daily"],
      ["OK", 1, "daily"],
      ["OK", 0, "daily"],
      ["OVER_LIMIT", 0, "daily"],
    ]);
    expect(seen[3]?.current_limit).toEqual({ requests_per_unit: 3, unit: "DAY", name: "daily" });
    // A fresh key: hourly has 9 left, daily 2, so daily is reported.
    expect((await ask(d("both", "b"))).current_limit?.name).toBe("daily");
  });

  it("shows every key and every limit of a list on /rlconfig", async () => {
    const dump = await (await fetch(`${compat.sluice.debug}/rlconfig`)).text();
    expect(dump).toBe(
      [
        "keys.sliding: unit=HOUR requests_per_unit=3 algorithm=sliding_window, shadow_mode: false",
        "keys.bucket: unit=HOUR requests_per_unit=1 algorithm=token_bucket burst=3, shadow_mode: false",
        "keys.leaky: unit=HOUR requests_per_unit=2 algorithm=leaky_bucket burst=2, shadow_mode: false",
        "keys.multiplied: unit=MINUTE requests_per_unit=2 unit_multiplier=120, shadow_mode: false",
        "keys.session: unit=HOUR requests_per_unit=2 window_anchor=first_hit, shadow_mode: false",
        "keys.budget: unit=DAY requests_per_unit=10 budget=true, shadow_mode: false",
        "keys.both: unit=HOUR requests_per_unit=10, shadow_mode: false",
        "keys.both: unit=DAY requests_per_unit=3 algorithm=sliding_window, shadow_mode: false",
        "",
      ].join("\n"),
    );
  });
});

const INVALID = join(REPO, "test/fixtures/rules/invalid");
const FIXTURES = readdirSync(INVALID)
  .filter((f) => f.startsWith("limits_"))
  .map((f) => {
    const text = readFileSync(join(INVALID, f), "utf8");
    return [f, text, /^# error: (.*)$/m.exec(text)?.[1] ?? ""] as const;
  });

function failures(output: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((l) => l.includes('"rules reload failed; keeping previous rules"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("load errors of these keys (a bad edit keeps the last good rules)", () => {
  const errors = useCompat({ rules: { "config.yaml": RULES } });
  let good = "";
  beforeAll(async () => {
    good = await (await fetch(`${errors.sluice.debug}/rlconfig`)).text();
  });
  afterAll(async () => {
    // The process is still answering with the first rules after every bad edit.
    expect(await (await fetch(`${errors.sluice.debug}/rlconfig`)).text()).toBe(good);
  });

  it("has a fixture per error", () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(16);
    for (const [, , error] of FIXTURES) expect(error).not.toBe("");
  });

  it.each(FIXTURES)("%s is reported with file and YAML path", async (name, text, error) => {
    const s = errors.sluice;
    const expected = `config.yaml: ${error}`;
    const last = () => failures(s.output()).at(-1) as { file?: string; problem?: string } | undefined;
    // Written beside the rules directory, then renamed into it: the watcher never reads a half-written file.
    const staged = join(s.root, `${name}.staged`);
    await s.changeRules(async () => {
      await writeFile(staged, text);
      await rename(staged, join(s.configDir, "config.yaml"));
    });
    await waitFor(() => last()?.problem === expected, 5_000).catch(() => {});
    expect(last()?.problem).toBe(expected);
    expect(last()?.file).toBe("config.yaml");
    const status = (await errors.envoy.ask({ domain: "keys", descriptors: [d("sliding", name)] })).statuses[0];
    expect(status?.current_limit).toEqual({ requests_per_unit: 3, unit: "HOUR", name: "" });
  });
});
