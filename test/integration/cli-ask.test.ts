/**
 * `sluice ask` (the built CLI as a child process) against a real `node dist/main.js` with the memory and the Redis
 * backend: a human-readable answer and `--json`, `--hits`, exit 0 allowed / 1 limited / 2 error, and one clear line
 * when Sluice is down or an argument is wrong.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { freePort } from "../helpers/ports.js";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { REPO } from "../helpers/sluice-process.js";

const RULES = `domain: shop
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 2, name: per-user }
`;

const farm = createRedisFarm();
afterAll(() => farm.stopAll());

describe.each(["memory", "redis"] as const)("sluice ask (%s)", (backend) => {
  let sluice: RunningSluice;
  beforeAll(async () => {
    const env: Record<string, string> =
      backend === "memory"
        ? {}
        : { BACKEND_TYPE: "redis", REDIS_URL: (await farm.start()).address, REDIS_TIMEOUT: "3s" };
    sluice = await startSluice({ rules: { "config.yaml": RULES }, env });
  }, 60_000);
  afterAll(() => sluice?.stop());

  const ask = (...args: string[]) => runCli(["ask", "--address", sluice.grpc, "--domain", "shop", ...args]);

  it("prints the decision for a person; exit 0 while allowed, 1 once limited", async () => {
    const first = await ask("--descriptor", `user=ann-${backend}`, "-D", "other=x");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^ALLOWED \(OK\)\n/);
    expect(first.stdout).toMatch(
      new RegExp(`^  user=ann-${backend}: OK, 1 of 2/hour left \\(per-user\\), resets in \\d+s$`, "m"),
    );
    expect(first.stdout).toMatch(/^ {2}other=x: OK, no rule matched$/m);
    expect((await ask("-D", `user=ann-${backend}`)).code).toBe(0);
    const limited = await ask("-D", `user=ann-${backend}`);
    expect(limited.code).toBe(1);
    expect(limited.stdout).toMatch(/^LIMITED \(OVER_LIMIT\), retry after \d+s\n/);
    expect(limited.stdout).toContain("OVER_LIMIT, 0 of 2/hour left (per-user)");
  });

  it("--json prints the SDK's result; --hits 0 peeks without counting", async () => {
    for (let i = 0; i < 2; i++) {
      const r = await ask("-D", `user=bob-${backend}`, "--hits", "0", "--json");
      expect(r.code).toBe(0);
      const json = JSON.parse(r.stdout);
      expect(json).toMatchObject({ domain: "shop", allowed: true, code: "OK", remaining: 2 });
      expect(json.limit).toEqual({ name: "per-user", requestsPerUnit: 2, unit: "hour" });
      expect(json.request).toEqual([[["user", `bob-${backend}`]]]);
    }
    const counted = JSON.parse((await ask("-D", `user=bob-${backend}`, "--hits", "2", "--json")).stdout);
    expect(counted.remaining).toBe(0);
  });
});

describe("README: sluice ask on the quick start's rules", () => {
  let sluice: RunningSluice;
  beforeAll(async () => {
    const rules = await readFile(join(REPO, "config", "config.yaml"), "utf8");
    sluice = await startSluice({ rules: { "config.yaml": rules } });
  }, 60_000);
  afterAll(() => sluice?.stop());

  it("prints the answer the README shows", async () => {
    const r = await runCli(["ask", "-a", sluice.grpc, "-d", "quickstart", "-D", "api=search,user=alice"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^ALLOWED \(OK\)\n {2}api=search,user=alice: OK, 29 of 30\/minute left \(search-per-user\), resets in \d+s\n$/,
    );
  });
});

describe("sluice ask errors (exit 2, one line)", () => {
  it("Sluice down", async () => {
    const r = await runCli(["ask", "-a", `127.0.0.1:${await freePort()}`, "-d", "shop", "-D", "user=a"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice: UNAVAILABLE from 127\.0\.0\.1:\d+: .+\n$/);
  });

  it.each([
    [["-D", "user"], /"user" is not key=value/],
    [["-D", "user=a", "--hits", "-1"], /--hits <n>.*expected an integer >= 0/],
    [["-D", "user=a", "--hits", "1.5"], /expected an integer >= 0/],
    [["-D", "user=a", "--timeout", "0"], /expected an integer >= 1/],
    [[], /required option '-D, --descriptor <k=v,...>' not specified/],
  ])("bad arguments %j", async (args, message) => {
    const r = await runCli(["ask", "-a", "127.0.0.1:1", "-d", "shop", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
