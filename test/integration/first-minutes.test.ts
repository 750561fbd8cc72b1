/**
 * The first five minutes of a new user, as the built service behaves for them: `npm start` (docker/ratelimit with
 * SLUICE_HOME=., which runs node dist/main.js in the repository with the service's node flags; no environment) prints one line saying where it listens and what it uses, whatever LOG_LEVEL is; a
 * broken rule file is one clear log line, not a stack trace; the WORKERS note appears only when WORKERS was set;
 * /json sends its rate-limit headers as real HTTP headers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MEMORY_SINGLE_PROCESS_NOTE } from "../../src/cluster/role.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, REPO } from "../helpers/sluice-process.js";

/** `npm start` without its build step: the command of package.json's start script. */
const START = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).scripts.start as string;

/** Runs `npm start`'s command with exactly `env` (plus PATH) until `until` shows in its output, then stops it. */
async function runUntil(
  env: Record<string, string>,
  until: string,
  onStarted?: (pid: number) => void,
): Promise<string> {
  // `exec` after the script's leading assignments (SLUICE_HOME=.), so that the shell becomes the service (SIGTERM and
  // the pid reach node, as they do under npm).
  const command = START.replace(/^((?:\w+=\S*\s+)*)/, "$1exec ");
  const child: ChildProcess = spawn("sh", ["-c", command], {
    cwd: REPO,
    env: { PATH: process.env["PATH"] ?? "", ...LOOPBACK_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  const exited = new Promise((r) => child.once("exit", r));
  try {
    await waitFor(() => out.includes(until) || child.exitCode !== null, 15_000);
    // Anything else it would print at startup comes right after; give it the rules load.
    await new Promise((r) => setTimeout(r, 300));
    if (child.pid !== undefined && child.exitCode === null) onStarted?.(child.pid);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
  return out;
}

const lines = (out: string): string[] => out.split("\n").filter((l) => l.trim() !== "");

describe("npm start, as a new user runs it", () => {
  beforeAll(() => buildDist(), 120_000);

  it("prints exactly one line at the default LOG_LEVEL: where it listens, the store, the rules directory", async () => {
    const out = await runUntil({}, "Sluice started");
    const [started, ...rest] = lines(out).filter((l) => !l.includes("shutting down"));
    expect(rest, out).toEqual([]);
    expect(started).toMatch(/^\[[\d:.]+\] INFO: Sluice started \{.*\}$/);
    const fields = JSON.parse(started?.slice(started.indexOf("{")) ?? "{}") as Record<string, unknown>;
    expect(fields).toMatchObject({ backend: "memory", rulesDir: join(REPO, "config"), logLevel: "warn" });
    for (const listener of ["http", "grpc", "debug"]) expect(fields[listener]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(out).not.toContain("WORKERS ignored");
  });

  it("runs node dist/main.js as the image's /bin/ratelimit does, with SLUICE_NODE_FLAGS added", async () => {
    const cmdline = async (env: Record<string, string>): Promise<string[]> => {
      let argv: string[] = [];
      await runUntil(env, "Sluice started", (pid) => {
        argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
          .split("\0")
          .filter((a) => a !== "");
      });
      return argv.slice(1);
    };
    expect(await cmdline({})).toEqual(["--enable-source-maps", "dist/main.js"]);
    expect(await cmdline({ SLUICE_NODE_FLAGS: "--single-threaded-gc --v8-pool-size=1" })).toEqual([
      "--enable-source-maps",
      "--single-threaded-gc",
      "--v8-pool-size=1",
      "dist/main.js",
    ]);
  });

  it("prints that line even with LOG_LEVEL=error, in JSON too", async () => {
    const out = await runUntil({ LOG_LEVEL: "error", LOG_FORMAT: "json" }, "Sluice started");
    const started = lines(out).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(started).toMatchObject([{ msg: "Sluice started", level: 30, backend: "memory" }]);
  });

  it("says WORKERS is ignored by the memory backend only when WORKERS was set", async () => {
    const out = await runUntil({ LOG_LEVEL: "info", LOG_FORMAT: "json", WORKERS: "2" }, "Sluice started");
    expect(out).toContain(MEMORY_SINGLE_PROCESS_NOTE);
  });

  it("logs a broken rule file as one clear line (file, YAML path, reason) without a stack trace", async () => {
    const root = mkdtempSync(join(tmpdir(), "sluice-first-"));
    try {
      mkdirSync(join(root, "config"));
      writeFileSync(
        join(root, "config/rules.yaml"),
        "domain: api\ndescriptors:\n  - key: user\n    rate_limit: {unit: minutes, requests_per_unit: 5}\n",
      );
      const out = await runUntil({ RUNTIME_ROOT: root }, "rules load failed");
      const errors = lines(out).filter((l) => l.includes("ERROR"));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain("rules load failed; no rules loaded, answering UNAVAILABLE");
      expect(errors[0]).toContain(
        '"problem":"rules.yaml: descriptors[0].rate_limit.unit: \\"minutes\\" is not one of second|minute|hour|day|week|month|year"',
      );
      expect(out).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("/json sends the rate-limit headers as HTTP headers", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      rules: {
        "r.yaml": "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 2}\n",
      },
      env: { LIMIT_RESPONSE_HEADERS_ENABLED: "true" },
      clock: new FakeClock(),
    });
  });
  afterAll(() => h?.close());

  it("copies responseHeadersToAdd from the body into the response headers, on 200 and on 429", async () => {
    const body = JSON.stringify({ domain: "d", descriptors: [{ entries: [{ key: "k", value: "v" }] }] });
    for (const [status, remaining] of [
      [200, "1"],
      [200, "0"],
      [429, "0"],
    ] as const) {
      const res = await fetch(`${h.httpUrl}/json`, { method: "POST", body });
      expect(res.status).toBe(status);
      const json = (await res.json()) as { responseHeadersToAdd: { key: string; value: string }[] };
      expect(json.responseHeadersToAdd).toEqual([
        { key: "RateLimit-Limit", value: "2" },
        { key: "RateLimit-Remaining", value: remaining },
        { key: "RateLimit-Reset", value: "60" },
        ...(status === 429 ? [{ key: "Retry-After", value: "60" }] : []),
      ]);
      for (const { key, value } of json.responseHeadersToAdd) expect(res.headers.get(key)).toBe(value);
    }
  });
});
