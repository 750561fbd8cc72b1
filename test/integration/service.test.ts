/**
 * The built service as a real process (`node dist/main.js`): startup, configuration errors, recovery from a bad
 * initial config, and SIGTERM handling with idle client connections open.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  type RateLimitResponse,
  RateLimitServiceClient,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, REPO, SluiceProcess } from "../helpers/sluice-process.js";

const RULES = `domain: test
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 2
`;

const running: SluiceProcess[] = [];
const dirs: string[] = [];

async function rulesRoot(rules: string | undefined): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sluice-svc-"));
  dirs.push(root);
  await mkdir(join(root, "config"));
  if (rules !== undefined) await writeFile(join(root, "config", "config.yaml"), rules);
  return root;
}

function start(env: Record<string, string>, cwd = REPO): SluiceProcess {
  const p = new SluiceProcess({ ...LOOPBACK_ENV, ...env }, cwd);
  running.push(p);
  return p;
}

function ask(target: string, value: string): Promise<RateLimitResponse> {
  const client = new RateLimitServiceClient(target, credentials.createInsecure());
  return new Promise<RateLimitResponse>((res, rej) =>
    client.shouldRateLimit(
      { domain: "test", hitsAddend: 0, descriptors: [{ entries: [{ key: "user", value }], isNegativeHits: false }] },
      (err, r) => (err ? rej(err) : res(r)),
    ),
  ).finally(() => client.close());
}

beforeAll(() => buildDist(), 60_000);

afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});

afterAll(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("node dist/main.js", () => {
  it("starts, reports its listeners and serves gRPC, /healthcheck and the debug port", async () => {
    const root = await rulesRoot(RULES);
    const p = start({ RUNTIME_ROOT: root, RUNTIME_WATCH_ROOT: "false" });
    const s = await p.started();
    expect(s.backend).toBe("memory");
    expect(s.rulesDir).toBe(join(root, "config"));
    expect((await ask(s.grpc, "a")).statuses[0]?.limitRemaining).toBe(1);
    const health = await fetch(`http://${s.http}/healthcheck`);
    expect([health.status, await health.text()]).toEqual([200, "OK"]);
    expect(await (await fetch(`http://${s.debug}/rlconfig`)).text()).toContain("test.user");
  });

  it("loads ./config/ from the working directory when RUNTIME_ROOT is unset", async () => {
    const cwd = await rulesRoot(RULES);
    const p = start({}, cwd);
    const s = await p.started();
    expect(s.rulesDir).toBe(join(cwd, "config"));
    expect((await ask(s.grpc, "b")).overallCode).toBe(Code.OK);
  });

  it("answers UNAVAILABLE with a bad initial config, then serves once the file is fixed", async () => {
    const root = await rulesRoot("domain: test\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight}\n");
    const p = start({ RUNTIME_ROOT: root, RUNTIME_WATCH_ROOT: "false" });
    const s = await p.started();
    const err = (await ask(s.grpc, "c").catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.UNAVAILABLE);
    await writeFile(join(root, "config", "config.yaml"), RULES);
    await waitFor(
      () =>
        ask(s.grpc, "c").then(
          () => true,
          () => false,
        ),
      5_000,
    );
    expect(p.child.exitCode).toBeNull();
  });

  it("exits 2 listing every invalid setting, without starting", async () => {
    const p = start({ PORT: "eighty", LOG_LEVEL: "loud", BACKEND_TYPE: "memcache" });
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stderr).toContain("cannot start, invalid settings");
    expect(p.stderr).toContain('PORT="eighty" is not an integer');
    expect(p.stderr).toContain('LOG_LEVEL="loud"');
    expect(p.stderr).toContain("memcache");
    expect(p.lines).toEqual([]);
  });

  it.each([["1"], ["4"]])("exits 2 before forking WORKERS=%s when a REDIS_TLS_* file is unreadable", async (w) => {
    const files = start({ WORKERS: w, REDIS_URL: "rediss://127.0.0.1:1", REDIS_TLS_CACERT: "/nonexistent/ca.pem" });
    expect((await files.exited).code).toBe(2);
    expect(files.stderr).toContain("cannot start, invalid settings");
    expect(files.stderr).toContain("REDIS_TLS_CACERT=/nonexistent/ca.pem: ENOENT");
    expect(files.lines.filter((l) => l["msg"] === "starting workers")).toEqual([]);
  });

  it("exits 1 with a fatal log when a port cannot be bound", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const p = start({ RUNTIME_ROOT: await rulesRoot(RULES), PORT: String(port) });
      const { code } = await p.exited;
      expect(code).toBe(1);
      expect(p.find("startup failed")).toMatchObject({ level: 60 });
    } finally {
      blocker.close();
    }
  });

  it("starts with reference variables it does not implement, logging them", async () => {
    const p = start({
      RUNTIME_ROOT: await rulesRoot(RULES),
      USE_STATSD: "false",
      USE_PROMETHEUS: "false",
      TRACING_ENABLED: "false",
      MEMCACHE_HOST_PORT: "m:11211",
      USE_DOG_STATSD_MOGRIFIERS: "x",
    });
    await p.started();
    // Only what is still ignored: statsd, Prometheus and tracing are implemented (issue 8).
    expect(p.find("reference settings not implemented by Sluice are ignored")).toMatchObject({
      names: ["USE_DOG_STATSD_MOGRIFIERS", "MEMCACHE_HOST_PORT"],
    });
  });

  it("exits 0 within 10 s on SIGTERM with idle gRPC and HTTP keep-alive connections open", async () => {
    const p = start({ RUNTIME_ROOT: await rulesRoot(RULES) });
    const s = await p.started();
    // An idle gRPC channel (connected by one finished call) and an idle HTTP/1.1 keep-alive socket.
    const client = new RateLimitServiceClient(s.grpc, credentials.createInsecure());
    await new Promise<void>((res, rej) =>
      client.shouldRateLimit(
        {
          domain: "test",
          hitsAddend: 0,
          descriptors: [{ entries: [{ key: "user", value: "d" }], isNegativeHits: false }],
        },
        (err) => (err ? rej(err) : res()),
      ),
    );
    const [host, port] = s.http.split(":");
    const socket = connect(Number(port), host ?? "127.0.0.1");
    await new Promise<void>((res) => socket.once("connect", () => res()));
    socket.write(`GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
    await new Promise<void>((res) => socket.once("data", () => res()));
    socket.on("error", () => {});
    try {
      const t0 = Date.now();
      p.child.kill("SIGTERM");
      const { code } = await p.exited;
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(p.find("shutting down")).toMatchObject({ signal: "SIGTERM" });
    } finally {
      client.close();
      socket.destroy();
    }
  });
});
