/**
 * Whole Sluice services (startService wiring, HTTP /json) on a real Redis: two instances sharing one key allow exactly
 * the limit; a service started while Redis is down answers 503 and serves once Redis appears, with
 * REDIS_HEALTH_CHECK_ACTIVE_CONNECTION driving /healthcheck; the local over-limit cache spares Redis.
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { FakeClock } from "../helpers/fake-clock.js";
import { freePort } from "../helpers/ports.js";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { type Harness, startHarness } from "../helpers/service.js";

const farm = createRedisFarm();
const harnesses: Harness[] = [];
afterAll(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
  await farm.stopAll();
});

const RULES = `domain: shared
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 50 }
  - key: tiny
    rate_limit: { unit: hour, requests_per_unit: 2 }
`;

async function sluice(env: Record<string, string>, clock?: FakeClock): Promise<Harness> {
  const h = await startHarness({
    env: { BACKEND_TYPE: "redis", REDIS_SOCKET_TYPE: "tcp", REDIS_TIMEOUT: "500ms", ...env },
    rules: { "config.yaml": RULES },
    ...(clock ? { clock } : {}),
  });
  harnesses.push(h);
  return h;
}

async function decide(h: Harness, key: string, value: string): Promise<number> {
  const res = await fetch(`${h.httpUrl}/json`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ domain: "shared", descriptors: [{ entries: [{ key, value }] }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe("Sluice services on Redis", () => {
  it("two instances on one Redis hitting one key concurrently allow exactly the limit", async () => {
    const redis = await farm.start();
    const clock = new FakeClock(Date.now());
    const a = await sluice({ REDIS_URL: redis.address }, clock);
    const b = await sluice({ REDIS_URL: redis.address }, clock);
    await waitServing(a);
    await waitServing(b);
    const statuses = await Promise.all(
      Array.from({ length: 160 }, (_, i) => decide(i % 2 === 0 ? a : b, "user", "alice")),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(110);
  });

  it("starts while Redis is down, answers 503 and fails /healthcheck, then serves within 2 s of Redis appearing", async () => {
    const port = await freePort();
    const h = await sluice({ REDIS_URL: `127.0.0.1:${port}`, REDIS_HEALTH_CHECK_ACTIVE_CONNECTION: "true" });
    expect(await decide(h, "user", "bob")).toBe(503);
    expect((await fetch(`${h.httpUrl}/healthcheck`)).status).toBe(500);
    const appeared = performance.now();
    await farm.start({ port });
    let status = 0;
    while (status !== 200 && performance.now() - appeared < 5_000) {
      status = await decide(h, "user", "bob");
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(200);
    expect(performance.now() - appeared).toBeLessThan(2_000);
    expect((await fetch(`${h.httpUrl}/healthcheck`)).status).toBe(200);
  });

  it("answers keys known to be over the limit from the local cache, without Redis (LOCAL_CACHE_SIZE_IN_BYTES)", async () => {
    const redis = await farm.start();
    const h = await sluice({ REDIS_URL: redis.address, LOCAL_CACHE_SIZE_IN_BYTES: "1048576" });
    await waitServing(h);
    const inspect = new Redis(redis.port, "127.0.0.1");
    await inspect.config("RESETSTAT");
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push(await decide(h, "tiny", "carol"));
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429, 429, 429, 429]);
    const stats = await inspect.info("commandstats");
    expect(/cmdstat_incrby:calls=(\d+)/.exec(stats)?.[1]).toBe("3"); // the 4th..10th never reached Redis
    inspect.disconnect();
  });
});

/** Waits until the instance's Redis connection is up (a counted probe answers 200, not 503). */
async function waitServing(h: Harness): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if ((await decide(h, "user", "probe")) === 200) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("service never reached Redis");
}
