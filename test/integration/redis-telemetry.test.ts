/**
 * Store metrics against a real redis-server: while Redis hangs (SIGSTOP) and BACKEND_FAILURE_POLICY=allow answers,
 * the scrape counts store failures by reason and shows the endpoint degraded; once Redis is back, the switch back
 * is counted and the store latency histogram has every call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEnvoyClient, descriptor, type EnvoyClient } from "../helpers/envoy-client.js";
import { scrape } from "../helpers/prometheus.js";
import { createRedisFarm, type RedisServer } from "../helpers/redis-servers.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";

const farm = createRedisFarm();
let redis: RedisServer;
let h: Harness;
let client: EnvoyClient;

beforeAll(async () => {
  redis = await farm.start();
  h = await startHarness({
    rules: {
      "config.yaml":
        "domain: web\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 100 }\n",
    },
    env: {
      BACKEND_TYPE: "redis",
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: redis.address,
      REDIS_TIMEOUT: "50ms",
      BACKEND_FAILURE_POLICY: "allow",
      USE_PROMETHEUS: "true",
      PROMETHEUS_ADDR: "127.0.0.1:0",
    },
  });
  client = createEnvoyClient(h.grpcTarget);
}, 30_000);

afterAll(async () => {
  client?.close();
  await h?.close();
  await farm.stopAll();
});

const ask = () => client.ask({ domain: "web", descriptors: [descriptor("user", "alice")] });
const metricsUrl = () => `http://127.0.0.1:${h.service.ports.metrics}/metrics`;

describe("store metrics", () => {
  it("count failures by reason and the failure-policy switches", async () => {
    const degraded = async () =>
      (await scrape(metricsUrl())).value("sluice_failure_policy_degraded", { redis: "redis" });
    // Connected and deciding with Redis (a first call may have raced the connection: then it recovered since).
    await waitFor(async () => {
      await ask();
      return (await degraded()) !== 1;
    }, 10_000);
    const before = await scrape(metricsUrl());
    const switches = (s: typeof before, to: string) =>
      s.value("sluice_failure_policy_switches_total", { redis: "redis", to }) ?? 0;
    const timeouts = (s: typeof before) => s.value("sluice_store_failures_total", { reason: "timeout" }) ?? 0;
    redis.pause();
    try {
      for (let i = 0; i < 3; i++) expect((await ask()).overall_code).toBe("OK"); // allowed by the policy
      const down = await scrape(metricsUrl());
      expect(timeouts(down) - timeouts(before)).toBeGreaterThanOrEqual(1);
      expect(down.value("sluice_failure_policy_degraded", { redis: "redis" })).toBe(1);
      expect(switches(down, "degraded") - switches(before, "degraded")).toBe(1);
    } finally {
      redis.resume();
    }
    await waitFor(async () => {
      await ask();
      return (await degraded()) === 0;
    }, 10_000);
    const up = await scrape(metricsUrl());
    expect(switches(up, "recovered") - switches(before, "recovered")).toBe(1);
    const calls = up.value("ratelimit_service_total_requests", { grpc_method: "ShouldRateLimit" }) ?? 0;
    expect(up.value("sluice_store_duration_seconds_count")).toBe(calls);
  });
});
