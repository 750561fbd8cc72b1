/**
 * The container image, checked without a container engine: the Dockerfile is parsed (dockerfile-ast) and every
 * promise it makes is checked against the repository (each COPY source exists and passes .dockerignore, the runtime
 * stage is slim, non-root and has production dependencies only, the entry point and health check are what gets
 * copied); then the image's entry point, docker/ratelimit, is run on this machine as the image runs it (SLUICE_HOME
 * standing for /app), plainly and with the environment Envoy Gateway's Deployment gives it, and the HEALTHCHECK
 * script is run against it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { buildDist, LOOPBACK_ENV, REPO, SluiceProcess } from "../helpers/sluice-process.js";

// A CommonJS module whose types declare an ES default export; require() gives the factory itself.
const ignore = createRequire(import.meta.url)("@balena/dockerignore") as typeof import("@balena/dockerignore").default;
const dockerfile = DockerfileParser.parse(readFileSync(join(REPO, "Dockerfile"), "utf8"));
const ignored = ignore().add(readFileSync(join(REPO, ".dockerignore"), "utf8"));
const ENTRY = join(REPO, "docker/ratelimit");
const HEALTHCHECK = join(REPO, "docker/healthcheck.mjs");

interface Copy {
  readonly stage: number;
  readonly from: string | undefined;
  readonly chmod: string | undefined;
  readonly sources: string[];
  readonly dest: string;
}

/** Instructions grouped by stage (a FROM starts one). */
function stages(): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of dockerfile.getInstructions()) {
    if (i.getKeyword() === "FROM") out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

function args(i: Instruction): string[] {
  return i.getArguments().map((a) => a.getValue());
}

function flag(i: Instruction, name: string): string | undefined {
  const f = (i as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] }).getFlags();
  return f.find((x) => x.getName() === name)?.getValue() ?? undefined;
}

function copies(): Copy[] {
  return stages().flatMap((instructions, stage) =>
    instructions
      .filter((i) => i.getKeyword() === "COPY")
      .map((i) => {
        const a = args(i);
        return { stage, from: flag(i, "from"), chmod: flag(i, "chmod"), sources: a.slice(0, -1), dest: a.at(-1) ?? "" };
      }),
  );
}

function filesUnder(path: string): string[] {
  const full = join(REPO, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(REPO.length + 1));
}

/** The exec form of a JSON-array instruction (HEALTHCHECK CMD, ENTRYPOINT). */
function execForm(i: Instruction | undefined, skip = 0): unknown {
  return JSON.parse(
    args(i as Instruction)
      .slice(skip)
      .join(" "),
  );
}

describe("Dockerfile (static checks)", () => {
  it("copies only sources that exist and that .dockerignore lets into the build context", () => {
    const fromContext = copies().filter((c) => c.from === undefined);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const c of fromContext) {
      for (const source of c.sources) {
        expect(existsSync(join(REPO, source)), `${source} exists`).toBe(true);
        for (const file of filesUnder(source)) expect(ignored.ignores(file), `${file} is ignored`).toBe(false);
      }
    }
    // And the context leaves out what must not be sent or baked in.
    for (const path of ["node_modules/yaml/package.json", "dist/main.js", ".git", "test/helpers/ports.ts", ".env"]) {
      expect(ignored.ignores(path), path).toBe(true);
    }
  });

  it("builds in stages on a slim base; the runtime stage has dist/, production dependencies only, and is non-root", () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const from of dockerfile.getFROMs()) expect(from.getImage()).toBe("node:20-bookworm-slim");
    const runtime = all.at(-1) ?? [];
    const user = runtime.filter((i) => i.getKeyword() === "USER").map((i) => args(i)[0]);
    expect(user.at(-1)).toBe("node");
    const runtimeCopies = copies().filter((c) => c.stage === all.length - 1);
    const fromStage = (dest: string) => runtimeCopies.find((c) => c.dest === dest)?.from;
    expect(fromStage("./dist")).toBe("build");
    expect(fromStage("./node_modules")).toBe("deps");
    const depsStage = all.find((s) => args(s[0] as Instruction).at(-1) === "deps") ?? [];
    const install = depsStage.filter((i) => i.getKeyword() === "RUN").map((i) => args(i).join(" "));
    expect(install.some((cmd) => cmd.startsWith("npm ci --omit=dev"))).toBe(true);
    const tsconfig = JSON.parse(readFileSync(join(REPO, "tsconfig.json"), "utf8")) as {
      compilerOptions: { outDir: string };
    };
    expect(tsconfig.compilerOptions.outDir).toBe("dist");
  });

  it("runs /bin/ratelimit, an executable copy of docker/ratelimit, and health-checks with node (no curl in slim)", () => {
    const runtime = stages().at(-1) ?? [];
    expect(execForm(runtime.find((i) => i.getKeyword() === "ENTRYPOINT"))).toEqual(["/bin/ratelimit"]);
    const entry = copies().find((c) => c.dest === "/bin/ratelimit");
    expect(entry).toMatchObject({ sources: ["docker/ratelimit"], chmod: "0755" });
    expect(statSync(ENTRY).mode & 0o111).toBe(0o111);
    expect(execFileSync("git", ["ls-files", "-s", "docker/ratelimit"], { cwd: REPO }).toString()).toMatch(/^100755 /);
    const check = runtime.find((i) => i.getKeyword() === "HEALTHCHECK");
    expect(args(check as Instruction)[0]).toBe("CMD");
    expect(execForm(check, 1)).toEqual(["node", "/app/docker/healthcheck.mjs"]);
    expect(copies().find((c) => c.dest === "./docker/healthcheck.mjs")?.sources).toEqual(["docker/healthcheck.mjs"]);
    const workdir = runtime.filter((i) => i.getKeyword() === "WORKDIR").map((i) => args(i)[0]);
    expect(workdir.at(-1)).toBe("/app");
  });
});

/** Runs the HEALTHCHECK script as the image does; resolves to its exit code. */
function healthcheck(env: Record<string, string>): number | null {
  return spawnSync(process.execPath, [HEALTHCHECK], { env: { PATH: process.env["PATH"] ?? "", ...env } }).status;
}

describe("docker/ratelimit, run as the image runs it", () => {
  const farm = createRedisFarm();
  beforeAll(() => buildDist(), 120_000);
  afterAll(() => farm.stopAll());

  it("starts Sluice with the image's defaults (rules from /app/config) and passes the HEALTHCHECK", async () => {
    const p = new SluiceProcess({ ...LOOPBACK_ENV, SLUICE_HOME: REPO }, tmpdir(), [ENTRY]);
    try {
      const started = await p.started();
      expect(started.rulesDir).toBe(join(REPO, "config"));
      expect(started.backend).toBe("memory");
      const port = started.http.split(":").at(-1) ?? "";
      expect(healthcheck({ PORT: port, HOST: "127.0.0.1" })).toBe(0);
      expect(healthcheck({ PORT: port })).toBe(0); // a wildcard HOST is asked on loopback
      expect(await p.stop()).toEqual({ code: 0, signal: null });
      expect(healthcheck({ PORT: port })).toBe(1);
    } finally {
      p.kill();
    }
  });

  it("starts with the environment Envoy Gateway's rate-limit Deployment sets (rules from a ConfigMap layout)", async () => {
    const redis = await farm.start();
    const data = mkdtempSync(join(tmpdir(), "sluice-eg-"));
    try {
      mkdirSync(join(data, "ratelimit/config"), { recursive: true });
      writeFileSync(join(data, "ratelimit/config/.hidden.yaml"), "not: rules\n");
      writeFileSync(
        join(data, "ratelimit/config/eg.yaml"),
        "domain: eg\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n",
      );
      const env = {
        ...LOOPBACK_ENV,
        SLUICE_HOME: REPO,
        RUNTIME_ROOT: data,
        RUNTIME_SUBDIRECTORY: "ratelimit",
        RUNTIME_IGNOREDOTFILES: "true",
        RUNTIME_WATCH_ROOT: "false",
        LOG_LEVEL: "info",
        USE_STATSD: "false",
        REDIS_SOCKET_TYPE: "tcp",
        REDIS_URL: `127.0.0.1:${redis.port}`,
        WORKERS: "1",
      };
      const p = new SluiceProcess(env, "/", [ENTRY]);
      try {
        const started = await p.started();
        expect(started).toMatchObject({ backend: "redis", rulesDir: join(data, "ratelimit/config") });
        await p.waitForLines("rules loaded");
        expect(p.find("rules loaded")).toMatchObject({ domains: 1, files: 1 });
        expect(healthcheck({ PORT: started.http.split(":").at(-1) ?? "" })).toBe(0);
        // Every variable EG sets is implemented (USE_STATSD since issue 8): no "ignored" warning.
        expect(p.find("reference settings not implemented by Sluice are ignored")).toBeUndefined();
      } finally {
        await p.stop();
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
