/**
 * One answer for the whole process tree: with WORKERS=2 (Redis backend) the primary's PROMETHEUS_ADDR and any
 * worker's debug /stats return the sum over both workers, after traffic spread over both.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChannelOptions, credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RateLimitResponse, RateLimitServiceClient } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { freePort } from "../helpers/ports.js";
import { establishedSocketsByPid } from "../helpers/procfs.js";
import { scrape } from "../helpers/prometheus.js";
import { createRedisFarm, type RedisServer } from "../helpers/redis-servers.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";

const OWN_CONNECTION: ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };
const CALLS = 40;

const farm = createRedisFarm();
let redis: RedisServer;
let root: string;
let p: SluiceProcess;
const clients: RateLimitServiceClient[] = [];
const ports = { http: 0, grpc: 0, debug: 0, metrics: 0 };
let workers: number[] = [];

function ask(client: RateLimitServiceClient, value: string): Promise<RateLimitResponse> {
  return new Promise((res, rej) =>
    client.shouldRateLimit(
      { domain: "test", hitsAddend: 0, descriptors: [{ entries: [{ key: "user", value }], isNegativeHits: false }] },
      (err, r) => (err ? rej(err) : res(r)),
    ),
  );
}

beforeAll(async () => {
  buildDist();
  redis = await farm.start();
  root = await mkdtemp(join(tmpdir(), "sluice-workers-telemetry-"));
  await mkdir(join(root, "config"));
  await writeFile(
    join(root, "config", "config.yaml"),
    "domain: test\ndescriptors:\n  - key: user\n    rate_limit: { unit: hour, requests_per_unit: 1000 }\n",
  );
  for (const k of ["http", "grpc", "debug", "metrics"] as const) ports[k] = await freePort();
  p = new SluiceProcess({
    ...LOOPBACK_ENV,
    PORT: String(ports.http),
    GRPC_PORT: String(ports.grpc),
    DEBUG_PORT: String(ports.debug),
    RUNTIME_ROOT: root,
    RUNTIME_WATCH_ROOT: "false",
    BACKEND_TYPE: "redis",
    REDIS_URL: redis.address,
    REDIS_TIMEOUT: "1s",
    WORKERS: "2",
    USE_PROMETHEUS: "true",
    PROMETHEUS_ADDR: `127.0.0.1:${ports.metrics}`,
  });
  workers = (await p.waitForLines("worker ready", 2)).map((l) => l["pid"] as number);
  for (let i = 0; i < 8; i++) {
    clients.push(new RateLimitServiceClient(`127.0.0.1:${ports.grpc}`, credentials.createInsecure(), OWN_CONNECTION));
  }
  await Promise.all(
    Array.from({ length: CALLS }, (_, i) => ask(clients[i % clients.length] as RateLimitServiceClient, `u${i % 4}`)),
  );
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await p?.stop();
  await farm.stopAll();
  await rm(root, { recursive: true, force: true });
});

describe("WORKERS=2 telemetry", () => {
  it("spread the traffic over both workers", () => {
    const owners = establishedSocketsByPid(ports.grpc, workers);
    for (const w of workers) expect(owners.get(w)).toBeGreaterThan(0);
  });

  it("serves the sum over every worker on the primary's PROMETHEUS_ADDR", async () => {
    const s = await scrape(`http://127.0.0.1:${ports.metrics}/metrics`);
    expect(s.value("ratelimit_service_total_requests", { grpc_method: "ShouldRateLimit" })).toBe(CALLS);
    expect(s.value("ratelimit_service_rate_limit_total_hits", { domain: "test", key1: "user" })).toBe(CALLS);
    expect(s.value("ratelimit_service_response_time_seconds_count", { grpc_method: "ShouldRateLimit" })).toBe(CALLS);
    // Each worker loaded the rules once: two workers answered the collection.
    expect(s.value("ratelimit_service_config_load_success")).toBe(2);
  });

  it("answers the debug /stats with the same sums, whichever worker takes the connection", async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${ports.debug}/stats`, { headers: { connection: "close" } });
      const stats = Object.fromEntries(
        (await res.text())
          .trim()
          .split("\n")
          .map((l) => l.split(": ") as [string, string]),
      );
      expect(Number(stats["ratelimit_server.ShouldRateLimit.total_requests"])).toBe(CALLS);
      expect(Number(stats["ratelimit.service.rate_limit.test.user.total_hits"])).toBe(CALLS);
      expect(Number(stats["ratelimit.service.config_load_success"])).toBe(2);
    }
  });
});
