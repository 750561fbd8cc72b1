/**
 * The client SDK (src/client) against a real `node dist/main.js`, with the memory and the Redis backend: decisions in
 * plain types (code, remaining, reset, retry-after, limit name), hits, check (peek), charge and refund, typed errors
 * for INVALID_ARGUMENT, and the package's own entry point (`import "sluice"` has no side effects).
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type SluiceClient, SluiceError } from "../../src/index.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { REPO } from "../helpers/sluice-process.js";

const RULES = `domain: sdk
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 3, name: per-user }
  - key: budget
    rate_limit: { unit: hour, requests_per_unit: 500 }
`;

const farm = createRedisFarm();
afterAll(() => farm.stopAll());

describe.each(["memory", "redis"] as const)("SDK against Sluice (%s)", (backend) => {
  let sluice: RunningSluice;
  let client: SluiceClient;
  beforeAll(async () => {
    const env: Record<string, string> =
      backend === "memory"
        ? {}
        : { BACKEND_TYPE: "redis", REDIS_URL: (await farm.start()).address, REDIS_TIMEOUT: "3s" };
    sluice = await startSluice({ rules: { "config.yaml": RULES }, env });
    client = createClient({ address: sluice.grpc, timeoutMs: 5_000 });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await sluice?.stop();
  });

  it("counts each call and reports remaining, the limit and the reset; the 4th call of 3/hour is limited", async () => {
    const user = [{ user: `u-${backend}` }];
    const first = await client.shouldRateLimit("sdk", user);
    expect(first).toMatchObject({ allowed: true, code: "OK", remaining: 2, failedOpen: false });
    expect(first.limit).toEqual({ name: "per-user", requestsPerUnit: 3, unit: "hour" });
    expect(first.descriptors).toHaveLength(1);
    expect(first.resetAfterMs).toBeGreaterThan(0);
    expect(first.resetAfterMs).toBeLessThanOrEqual(3_600_000);
    expect(first.retryAfterMs).toBeUndefined();
    await client.shouldRateLimit("sdk", user);
    expect((await client.shouldRateLimit("sdk", user)).remaining).toBe(0);
    const limited = await client.shouldRateLimit("sdk", user);
    expect(limited).toMatchObject({ allowed: false, code: "OVER_LIMIT", remaining: 0 });
    expect(limited.descriptors[0]?.code).toBe("OVER_LIMIT");
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(3_600_000);
  });

  it("hits counts several at once; a descriptor no rule matches is OK with no limit", async () => {
    const r = await client.shouldRateLimit("sdk", [{ user: `hits-${backend}` }, [["nope", "x"]]], { hits: 2 });
    expect(r.allowed).toBe(true);
    expect(r.descriptors[0]).toMatchObject({ code: "OK", remaining: 1 });
    expect(r.descriptors[1]).toMatchObject({ code: "OK", limit: undefined });
    expect(r.remaining).toBe(1);
  });

  it("check peeks without counting; it is OVER_LIMIT only once the limit is exceeded", async () => {
    const user = [{ user: `peek-${backend}` }];
    for (let i = 0; i < 3; i++) expect((await client.check("sdk", user)).remaining).toBe(3);
    await client.shouldRateLimit("sdk", user, { hits: 3 });
    expect(await client.check("sdk", user)).toMatchObject({ allowed: true, remaining: 0 });
    await client.shouldRateLimit("sdk", user);
    expect(await client.check("sdk", user)).toMatchObject({ allowed: false, code: "OVER_LIMIT" });
  });

  it("charge adds the real cost; refund gives it back", async () => {
    const budget = [{ budget: `b-${backend}` }];
    expect((await client.charge("sdk", budget, 120)).remaining).toBe(380);
    expect((await client.check("sdk", budget)).remaining).toBe(380);
    expect((await client.refund("sdk", budget, 20)).remaining).toBe(400);
    const over = await client.charge("sdk", budget, 450);
    expect(over).toMatchObject({ allowed: false, code: "OVER_LIMIT" });
    expect(over.retryAfterMs).toBeGreaterThan(0);
  });

  it("a request Sluice refuses rejects with SluiceError INVALID_ARGUMENT, even when failing open", async () => {
    const open = createClient({ address: sluice.grpc, timeoutMs: 5_000, failOpen: true });
    try {
      for (const c of [client, open]) {
        const err = await c.shouldRateLimit("sdk", [{ user: "x".repeat(70_000) }]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SluiceError);
        expect((err as SluiceError).code).toBe("INVALID_ARGUMENT");
      }
    } finally {
      open.close();
    }
  });
});

describe("GRPC_UDS and LIMIT_RESPONSE_HEADERS_ENABLED", () => {
  it("reaches Sluice on a unix socket with a `unix:` address and returns the headers Sluice asks to add", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-sdk-uds-"));
    const socket = join(dir, "grpc.sock");
    const sluice = await startSluice({
      rules: { "config.yaml": RULES },
      env: { GRPC_UDS: socket, LIMIT_RESPONSE_HEADERS_ENABLED: "true" },
    });
    const client = createClient({ address: `unix:${socket}`, timeoutMs: 5_000 });
    try {
      const r = await client.shouldRateLimit("sdk", [{ user: "uds" }]);
      expect(r).toMatchObject({ allowed: true, remaining: 2 });
      expect(r.headers).toContainEqual({ key: "RateLimit-Remaining", value: "2" });
    } finally {
      client.close();
      await sluice.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("arguments", () => {
  it("bad options and descriptors throw a TypeError before anything is sent", async () => {
    expect(() => createClient({ address: "" })).toThrow(/address is required/);
    expect(() => createClient({ address: "127.0.0.1:1", timeoutMs: 0 })).toThrow(/timeoutMs/);
    const c = createClient({ address: "127.0.0.1:1" });
    try {
      await expect(c.shouldRateLimit("", [{ a: "b" }])).rejects.toThrow(/domain/);
      await expect(c.shouldRateLimit("d", [{}])).rejects.toThrow(/descriptors\[0\] has no entries/);
      await expect(c.charge("d", [{ a: "b" }], -1)).rejects.toThrow(/non-negative integer/);
    } finally {
      c.close();
    }
  });
});

describe("package entry", () => {
  it("`import 'sluice'` (dist, through the exports map) exposes the SDK and starts nothing", async () => {
    const script = `const m = await import("sluice"); const e = await import("sluice/express");
      process.stdout.write(JSON.stringify([typeof m.createClient, typeof m.createRateLimitCore, typeof e.sluiceExpress]));`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: REPO,
      timeout: 15_000,
    });
    expect(JSON.parse(stdout)).toEqual(["function", "function", "function"]);
    expect(stderr).toBe("");
  });

  it("a TypeScript project (NodeNext, strict) gets the declarations through the exports map", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-consumer-"));
    try {
      await mkdir(join(dir, "node_modules"));
      await symlink(REPO, join(dir, "node_modules", "sluice"), "dir");
      await writeFile(join(dir, "package.json"), '{ "type": "module" }');
      const tsconfig = { compilerOptions: { module: "NodeNext", strict: true, noEmit: true, skipLibCheck: false } };
      await writeFile(join(dir, "tsconfig.json"), JSON.stringify({ ...tsconfig, files: ["consumer.ts"] }));
      await writeFile(
        join(dir, "consumer.ts"),
        `import { createClient, type RateLimitResult } from "sluice";
import { sluiceHono } from "sluice/hono";
const client = createClient({ address: "127.0.0.1:8081", failOpen: true });
const r: Promise<RateLimitResult> = client.check("d", [{ k: "v" }]);
export const mw = sluiceHono({ client, domain: "d", descriptors: [["ip"]] });
// @ts-expect-error: hits must be a number
void client.shouldRateLimit("d", [{ k: "v" }], { hits: "2" });
void r;
`,
      );
      const tsc = join(REPO, "node_modules/typescript/bin/tsc");
      const run = promisify(execFile)(process.execPath, [tsc, "-p", dir], { timeout: 60_000 });
      await expect(run).resolves.toMatchObject({ stdout: "" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
