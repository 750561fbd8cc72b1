/**
 * Exact admission under concurrency, through the built service (`node dist/main.js`) and an independent gRPC client:
 * 200 parallel calls against a token bucket of burst 50 admit exactly 50, on memory and on Redis, and two Sluice
 * processes sharing one Redis together admit exactly the limit (the limits script is atomic across instances).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CompatInstance, startCompat } from "../helpers/compat-process.js";
import { descriptor as d, type WireResponse } from "../helpers/envoy-client.js";
import { createRedisFarm, type RedisServer } from "../helpers/redis-servers.js";

// One token per hour after the burst, so nothing refills while the test runs.
const RULES = `domain: conc
descriptors:
  - key: bucket
    rate_limit: {unit: hour, requests_per_unit: 1, algorithm: token_bucket, burst: 50}
  - key: sliding
    rate_limit: {unit: hour, requests_per_unit: 30, algorithm: sliding_window}
  - key: pair
    rate_limits:
      - {unit: hour, requests_per_unit: 40}
      - {unit: hour, requests_per_unit: 25, algorithm: token_bucket, burst: 25, name: tb}
`;

const farm = createRedisFarm();
let redis: RedisServer;
/** One instance on memory, two on one Redis; each test uses its own descriptor values. */
let memory: CompatInstance;
let a: CompatInstance;
let b: CompatInstance;

beforeAll(async () => {
  redis = await farm.start();
  const env = { BACKEND_TYPE: "redis", REDIS_SOCKET_TYPE: "tcp", REDIS_URL: redis.address, REDIS_TIMEOUT: "5s" };
  [memory, a, b] = await Promise.all([
    startCompat({ rules: { "config.yaml": RULES } }),
    startCompat({ rules: { "config.yaml": RULES }, env }),
    startCompat({ rules: { "config.yaml": RULES }, env }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([memory, a, b].map((i) => i?.stop()));
  await farm.stopAll();
});

/** Sends `n` calls at once (spread over the instances) and counts the OK answers. */
async function admitted(instances: readonly CompatInstance[], key: string, value: string, n: number) {
  const calls: Promise<WireResponse>[] = [];
  for (let i = 0; i < n; i++) {
    const instance = instances[i % instances.length] as CompatInstance;
    calls.push(instance.envoy.ask({ domain: "conc", descriptors: [d(key, value)] }));
  }
  const answers = await Promise.all(calls);
  return answers.filter((a) => a.overall_code === "OK").length;
}

describe("exact admission under 200 parallel calls", () => {
  it.each([
    ["bucket", 50],
    ["sliding", 30],
    ["pair", 25],
  ])("memory: %s admits exactly %i", async (key, limit) => {
    expect(await admitted([memory], key, "memory", 200)).toBe(limit);
  });

  it.each([
    ["bucket", 50],
    ["sliding", 30],
    ["pair", 25],
  ])("redis: %s admits exactly %i", async (key, limit) => {
    expect(await admitted([a], key, "one", 200)).toBe(limit);
  });

  it.each([
    ["bucket", 50],
    ["sliding", 30],
    ["pair", 25],
  ])("two processes on one Redis: %s admits exactly %i together", async (key, limit) => {
    expect(await admitted([a, b], key, "two", 200)).toBe(limit);
  });
});
