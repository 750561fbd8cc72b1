/**
 * WORKERS as real processes (`node dist/main.js`): with the Redis backend, WORKERS=2 forks two workers that share
 * the gRPC port (each holds some of the client connections, as /proc shows), count exactly across each other, are
 * replaced when killed and drain on SIGTERM; bad settings and a start that cannot work end the primary with one clear
 * failure. With the memory backend WORKERS=2 still runs a single serving process.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChannelOptions, credentials } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MEMORY_SINGLE_PROCESS_NOTE } from "../../src/cluster/role.js";
import {
  RateLimitResponse_Code as Code,
  type RateLimitResponse,
  RateLimitServiceClient,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { freePort } from "../helpers/ports.js";
import { childPids, establishedSocketsByPid, isAlive } from "../helpers/procfs.js";
import { createRedisFarm, type RedisServer } from "../helpers/redis-servers.js";
import { waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";

const LIMIT = 10;
const RULES = `domain: test
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: ${LIMIT}
`;
/** Separate channels must not share grpc-js's global subchannel pool, or they would share one connection. */
const OWN_CONNECTION: ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

const farm = createRedisFarm();
let redis: RedisServer;
let root: string;
const running: SluiceProcess[] = [];
const clients: RateLimitServiceClient[] = [];

beforeAll(async () => {
  buildDist();
  redis = await farm.start();
  root = await mkdtemp(join(tmpdir(), "sluice-workers-"));
  await mkdir(join(root, "config"));
  await writeFile(join(root, "config", "config.yaml"), RULES);
}, 60_000);

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const p of running.splice(0)) p.kill();
});

afterAll(async () => {
  await farm.stopAll();
  await rm(root, { recursive: true, force: true });
});

interface Ports {
  readonly http: number;
  readonly grpc: number;
  readonly debug: number;
}

/** node:cluster shares a listener across workers by address, so the tests give concrete free ports. */
async function freePorts(): Promise<Ports> {
  return { http: await freePort(), grpc: await freePort(), debug: await freePort() };
}

function start(env: Record<string, string>, ports: Ports): SluiceProcess {
  const p = new SluiceProcess({
    ...LOOPBACK_ENV,
    PORT: String(ports.http),
    GRPC_PORT: String(ports.grpc),
    DEBUG_PORT: String(ports.debug),
    RUNTIME_ROOT: root,
    RUNTIME_WATCH_ROOT: "false",
    ...env,
  });
  running.push(p);
  return p;
}

function startRedisWorkers(ports: Ports, extra: Record<string, string> = {}): SluiceProcess {
  return start({ BACKEND_TYPE: "redis", REDIS_URL: redis.address, REDIS_TIMEOUT: "1s", WORKERS: "2", ...extra }, ports);
}

/** Pids of the workers that reported ready, in order. */
async function readyWorkers(p: SluiceProcess, count: number): Promise<number[]> {
  const lines = await p.waitForLines("worker ready", count);
  return lines.map((l) => l["pid"] as number);
}

function newClients(grpcPort: number, n: number): RateLimitServiceClient[] {
  const made = Array.from(
    { length: n },
    () => new RateLimitServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure(), OWN_CONNECTION),
  );
  clients.push(...made);
  return made;
}

function ask(client: RateLimitServiceClient, value: string): Promise<RateLimitResponse> {
  return new Promise((res, rej) =>
    client.shouldRateLimit(
      { domain: "test", hitsAddend: 0, descriptors: [{ entries: [{ key: "user", value }], isNegativeHits: false }] },
      (err, r) => (err ? rej(err) : res(r)),
    ),
  );
}

/** `n` concurrent requests for one user, spread over the clients' connections; returns the overall codes. */
async function burst(over: readonly RateLimitServiceClient[], value: string, n: number): Promise<Code[]> {
  const answers = await Promise.all(
    Array.from({ length: n }, (_, i) => ask(over[i % over.length] as RateLimitServiceClient, value)),
  );
  return answers.map((a) => a.overallCode);
}

function count(codes: readonly Code[], code: Code): number {
  return codes.filter((c) => c === code).length;
}

describe("WORKERS=2 with BACKEND_TYPE=redis", () => {
  it("serves one gRPC port from two worker processes and counts exactly across them", async () => {
    const ports = await freePorts();
    const p = startRedisWorkers(ports);
    const workers = await readyWorkers(p, 2);
    expect(new Set(workers).size).toBe(2);
    expect(childPids(p.pid)).toEqual([...workers].sort((a, b) => a - b));
    expect(p.all("starting workers")).toMatchObject([{ workers: 2, scheduling: "round-robin" }]);

    const conns = newClients(ports.grpc, 8);
    const codes = await burst(conns, "shared", 60);
    expect(count(codes, Code.OK)).toBe(LIMIT);
    expect(count(codes, Code.OVER_LIMIT)).toBe(60 - LIMIT);

    // Who holds the server side of the 8 connections: the kernel's view, not the service's.
    const owners = establishedSocketsByPid(ports.grpc, [p.pid, ...workers]);
    expect(owners.get(p.pid)).toBe(0);
    expect(workers.map((w) => owners.get(w) ?? 0).reduce((a, b) => a + b, 0)).toBe(8);
    for (const w of workers) expect(owners.get(w)).toBeGreaterThan(0);
  });

  it("replaces a worker that is killed, and the replacement serves", async () => {
    const ports = await freePorts();
    const p = startRedisWorkers(ports);
    const [victim, survivor] = await readyWorkers(p, 2);
    process.kill(victim as number, "SIGKILL");
    const [replaced] = await p.waitForLines("worker exited unexpectedly; replacing it");
    expect(replaced).toMatchObject({ pid: victim, signal: "SIGKILL", level: 50 });
    const workers = await readyWorkers(p, 3);
    const fresh = workers[2] as number;
    expect([victim, survivor]).not.toContain(fresh);
    expect(childPids(p.pid)).toEqual([survivor as number, fresh].sort((a, b) => a - b));

    // New connections are dealt to both workers in turn; the replacement gets some and answers on them.
    const conns = newClients(ports.grpc, 6);
    expect(count(await burst(conns, "after-kill", 6), Code.OK)).toBe(6);
    expect(establishedSocketsByPid(ports.grpc, [fresh]).get(fresh)).toBeGreaterThan(0);
    expect(p.child.exitCode).toBeNull();
  });

  it("exits 0 within 10 s on SIGTERM once every worker has drained, with client connections open", async () => {
    const ports = await freePorts();
    const p = startRedisWorkers(ports);
    const workers = await readyWorkers(p, 2);
    const conns = newClients(ports.grpc, 4);
    expect(count(await burst(conns, "sigterm", 4), Code.OK)).toBe(4);

    const t0 = Date.now();
    p.kill("SIGTERM");
    const { code } = await p.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (const w of workers) expect(isAlive(w)).toBe(false);
    const stopping = p.all("shutting down").map((l) => l["pid"]);
    expect(stopping).toEqual(expect.arrayContaining(workers));
    expect(p.all("all workers stopped")).toHaveLength(1);
  });

  it("exits 2 with the settings problems once, forking no worker", async () => {
    const p = startRedisWorkers(await freePorts(), { PORT: "eighty", WORKERS: "0" });
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.stderr.match(/cannot start, invalid settings/g)).toHaveLength(1);
    expect(p.stderr.match(/PORT="eighty" is not an integer/g)).toHaveLength(1);
    expect(p.stderr).toContain("WORKERS=0 is out of range [1, 1024]");
    expect(p.lines).toEqual([]);
  });

  it("gives up and exits 1 when workers keep failing at startup (a port in use)", async () => {
    const ports = await freePorts();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(ports.http, "127.0.0.1", r));
    try {
      const p = startRedisWorkers(ports);
      const { code } = await p.exited;
      expect(code).toBe(1);
      const failures = p.all("startup failed");
      // One worker at a time until one is ready: five attempts, not five per worker.
      expect(failures).toHaveLength(5);
      expect(new Set(failures.map((l) => l["pid"])).size).toBe(5);
      expect(p.all("worker failed to start; retrying")).toHaveLength(4);
      expect(p.all("workers keep failing at startup; giving up")).toMatchObject([{ level: 60, startupFailures: 5 }]);
      expect(p.all("worker ready")).toEqual([]);
    } finally {
      blocker.close();
    }
  }, 30_000);
});

describe("WORKERS=2 with BACKEND_TYPE=memory", () => {
  it("serves from a single process, says why once, and counts exactly", async () => {
    const ports = await freePorts();
    const p = start({ BACKEND_TYPE: "memory", WORKERS: "2" }, ports);
    await p.waitForLines("Sluice started");
    expect(p.all(MEMORY_SINGLE_PROCESS_NOTE)).toMatchObject([{ workers: 2, level: 30 }]);
    expect(p.all("starting workers")).toEqual([]);
    expect(childPids(p.pid)).toEqual([]);

    const conns = newClients(ports.grpc, 8);
    const codes = await burst(conns, "memory", 60);
    expect(count(codes, Code.OK)).toBe(LIMIT);
    expect(count(codes, Code.OVER_LIMIT)).toBe(60 - LIMIT);
    expect(establishedSocketsByPid(ports.grpc, [p.pid]).get(p.pid)).toBe(8);
    await waitFor(() => childPids(p.pid).length === 0, 1_000);
  });
});
