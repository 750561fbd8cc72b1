/**
 * `sluice check` and the CLI's shared behaviour (`--help`, `--version` for each command, one-line errors with exit 2):
 * the built CLI as a child process. A valid directory prints exactly what a running server's /rlconfig shows for it;
 * an invalid one prints every error with file and YAML path and exits 1. `sluice serve` runs the real server.
 */
import { spawn } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/index.js";
import { CLI, runCli } from "../helpers/cli.js";
import { startSluice } from "../helpers/compat-process.js";
import { waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, REPO } from "../helpers/sluice-process.js";

const VERSION = (await import("../../package.json", { with: { type: "json" } })).default.version;
const VALID = join(REPO, "test/fixtures/rules/valid");
const GOOD = "domain: good\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 5 }\n";

let tmp: string;
beforeAll(async () => {
  buildDist();
  tmp = await mkdtemp(join(tmpdir(), "sluice-cli-"));
}, 60_000);
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe("help, version and argument errors", () => {
  it.each([[], ["check"], ["ask"], ["serve"]])("`sluice %s --version` prints the package version", async (...cmd) => {
    const r = await runCli([...cmd, "--version"]);
    expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
  });

  it.each([[], ["check"], ["ask"], ["serve"]])("`sluice %s --help` prints usage", async (...cmd) => {
    const r = await runCli([...cmd, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: sluice${cmd.length ? ` ${cmd[0]}` : ""} `));
  });

  it("an unknown command or option is one line on stderr and exit 2", async () => {
    for (const args of [["frobnicate"], ["check", "--nope"], ["ask", "--domain", "d"]]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: /);
    }
  });
});

describe("sluice check", () => {
  it("prints the same dump as a running server's /rlconfig for a valid directory", async () => {
    const dir = join(tmp, "valid");
    await cp(VALID, dir, { recursive: true });
    await rm(join(dir, "merge_b.yaml")); // merge_a and merge_b share a domain (valid only with MERGE_DOMAIN_CONFIG)
    const r = await runCli(["check", dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^ok: \d+ files, \d+ domains in /m);
    const sluice = await startSluice({ prepare: (root) => cp(dir, join(root, "config"), { recursive: true }) });
    try {
      const served = await (await fetch(`${sluice.debug}/rlconfig`)).text();
      expect(served.length).toBeGreaterThan(0);
      expect(r.stdout).toBe(served);
    } finally {
      await sluice.stop();
    }
  });

  it("reads the directory from RUNTIME_* like the server when no dir is given, and honours MERGE_DOMAIN_CONFIG", async () => {
    const env = {
      RUNTIME_ROOT: join(REPO, "test/fixtures"),
      RUNTIME_SUBDIRECTORY: "rules",
      RUNTIME_APPDIRECTORY: "valid",
    };
    const strict = await runCli(["check"], env);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^error: merge_b\.yaml: domain: duplicate domain 'merged' .*also in merge_a\.yaml/m);
    const merged = await runCli(["check"], { ...env, MERGE_DOMAIN_CONFIG: "true" });
    expect(merged.code).toBe(0);
    expect(merged.stdout).toMatch(/^merged\./m);
  });

  it("prints every error of every file with file and YAML path, exit 1", async () => {
    const dir = join(tmp, "mixed");
    await cp(join(REPO, "test/fixtures/rules/invalid"), dir, { recursive: true, filter: (p) => !p.endsWith(".md") });
    await writeFile(join(dir, "good.yaml"), GOOD);
    const r = await runCli(["check", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      'error: bad_unit.yaml: descriptors[2].rate_limit.unit: "minutes" is not one of second|minute|hour|day|week|month|year',
    );
    expect(r.stderr).toContain(
      "error: unknown_key_nested.yaml: descriptors[0].rate_limit.requestsperunit: unknown key",
    );
    expect(r.stderr).not.toContain("good.yaml");
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
    expect(r.stderr).toContain(`${errors.length} errors in ${dir}`);
    expect(errors.length).toBeGreaterThan(20);
  });

  it("checks the quick start's rules (README: `sluice check config`)", async () => {
    const r = await runCli(["check", "config"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^quickstart\.api_search\.user: unit=MINUTE requests_per_unit=30, shadow_mode: false$/m);
  });

  it("a missing directory is one error line, exit 1", async () => {
    const r = await runCli(["check", join(tmp, "nope")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*nope: cannot read the rules directory \(ENOENT\)\n/);
  });
});

describe("sluice serve", () => {
  it("runs the server from the same environment and stops cleanly on SIGTERM", async () => {
    const root = join(tmp, "serve");
    await cp(VALID, join(root, "config"), { recursive: true, filter: (p) => !p.endsWith("merge_b.yaml") });
    await writeFile(join(root, "config", "good.yaml"), GOOD);
    const env = { PATH: process.env["PATH"] ?? "", ...LOOPBACK_ENV, RUNTIME_ROOT: root, BACKEND_TYPE: "memory" };
    Object.assign(env, { LOG_FORMAT: "json", LOG_LEVEL: "info" });
    const child = spawn(process.execPath, [CLI, "serve"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('"msg":"Sluice started"') || child.exitCode !== null, 20_000);
      const started = JSON.parse(out.split("\n").find((l) => l.includes('"msg":"Sluice started"')) ?? "{}");
      const client = createClient({ address: started.grpc, timeoutMs: 5_000 });
      try {
        expect((await client.shouldRateLimit("good", [{ k: "v" }])).remaining).toBe(4);
      } finally {
        client.close();
      }
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
