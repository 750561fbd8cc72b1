/**
 * Bounded failure behaviour against real redis-server processes: killed, hung (SIGSTOP), unreachable, down at
 * startup; every call fails with StoreUnavailableError within REDIS_TIMEOUT, and the store serves again within 2 s of
 * Redis returning. Then the failure policies, the health check and per-second routing.
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { FailurePolicy } from "../../src/settings/redis-settings.js";
import { createRedisBackend, type RedisBackend } from "../../src/store/redis/create-redis-backend.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import { createLogSink, type LogLine } from "../helpers/log-sink.js";
import { freePort } from "../helpers/ports.js";
import { createRedisFarm, type RedisServer, redisSettingsFrom, waitConnected } from "../helpers/redis-servers.js";

const TIMEOUT_MS = 50;
/** Slack for timers and a busy CI machine on top of REDIS_TIMEOUT. */
const SLACK_MS = 150;

const farm = createRedisFarm();
afterAll(() => farm.stopAll());

function storeFor(address: string, clock: FakeClock, logger = createLogSink("warn").logger): RedisCounterStore {
  const settings = redisSettingsFrom({
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: address,
    REDIS_TIMEOUT: `${TIMEOUT_MS}ms`,
  });
  return createRedisStore({ endpoint: settings.main, clock, logger, expirationJitterMaxSeconds: 0 });
}

/** Runs `apply` once and reports how long it took and how it ended. */
async function timed(store: { apply: RedisCounterStore["apply"] }, clock: FakeClock, key = "k") {
  const start = performance.now();
  try {
    const verdicts = await store.apply([makeOp(clock, key, 1)]);
    return { ms: performance.now() - start, verdicts, err: undefined };
  } catch (err) {
    return { ms: performance.now() - start, verdicts: undefined, err };
  }
}

/** Calls the store every 20 ms until a call succeeds; returns the ms it took from `since`. */
async function msUntilServing(
  store: RedisCounterStore,
  clock: FakeClock,
  since: number,
  limitMs = 5_000,
): Promise<number> {
  for (;;) {
    const r = await timed(store, clock);
    if (r.err === undefined) return performance.now() - since;
    expect(r.err).toBeInstanceOf(StoreUnavailableError);
    expect(r.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    if (performance.now() - since > limitMs) throw new Error("store did not serve again");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function expectFailFast(store: RedisCounterStore, clock: FakeClock, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const r = await timed(store, clock);
    expect(r.err).toBeInstanceOf(StoreUnavailableError);
    expect(r.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  }
}

describe("Redis outages", () => {
  it("fails within REDIS_TIMEOUT while Redis hangs (SIGSTOP) and serves again within 2 s of SIGCONT", async () => {
    const server = await farm.start();
    const clock = makeSuiteClock();
    const store = storeFor(server.address, clock);
    await waitConnected(store);
    expect((await timed(store, clock)).err).toBeUndefined();
    server.pause();
    const hung = await timed(store, clock);
    expect(hung.err).toBeInstanceOf(StoreUnavailableError);
    expect(hung.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(hung.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    await expectFailFast(store, clock, 5);
    await new Promise((r) => setTimeout(r, 1_500)); // long enough for the silent connection to be replaced
    await expectFailFast(store, clock, 2);
    server.resume();
    expect(await msUntilServing(store, clock, performance.now())).toBeLessThan(2_000);
    await store.close();
  });

  it("fails at once while Redis is killed and serves again within 2 s of its restart", async () => {
    const server = await farm.start();
    const clock = makeSuiteClock();
    const store = storeFor(server.address, clock);
    await waitConnected(store);
    await server.kill();
    await expectFailFast(store, clock, 5);
    await new Promise((r) => setTimeout(r, 2_000)); // reconnect backoff reaches its cap
    await expectFailFast(store, clock, 2);
    await server.restart();
    expect(await msUntilServing(store, clock, performance.now())).toBeLessThan(2_000);
    expect((await timed(store, clock, "fresh")).verdicts?.[0]?.used).toBe(1); // a fresh, empty Redis
    await store.close();
  });

  it("starts with Redis down, answers UNAVAILABLE, and connects when Redis appears", async () => {
    const port = await freePort();
    const clock = makeSuiteClock();
    const store = storeFor(`127.0.0.1:${port}`, clock);
    await expectFailFast(store, clock, 3);
    await new Promise((r) => setTimeout(r, 1_000));
    await expectFailFast(store, clock, 2);
    const started = performance.now();
    await farm.start({ port });
    expect(await msUntilServing(store, clock, started)).toBeLessThan(2_000);
    await store.close();
  });

  it("fails within REDIS_TIMEOUT when Redis is unreachable", async () => {
    const clock = makeSuiteClock();
    const store = storeFor("10.255.255.1:6379", clock); // not routed: the connect attempt hangs or fails
    await expectFailFast(store, clock, 3);
    await store.close();
  });

  it("bounds the time Redis takes, not the time our own event loop was busy", async () => {
    const server = await farm.start();
    const clock = makeSuiteClock();
    const store = storeFor(server.address, clock);
    await waitConnected(store);
    const pending = store.apply([makeOp(clock, "busy", 1)]);
    const until = performance.now() + 3 * TIMEOUT_MS;
    while (performance.now() < until) {
      // the loop is blocked well past the timeout while Redis's reply waits in the socket
    }
    expect((await pending)[0]?.used).toBe(1);
    await store.close();
  });
});

function countMessages(lines: readonly LogLine[], pattern: RegExp): number {
  return lines.filter((l) => pattern.test(l.msg)).length;
}

describe("BACKEND_FAILURE_POLICY", () => {
  async function backendWith(policy: FailurePolicy, server: RedisServer, clock: FakeClock) {
    const sink = createLogSink("info");
    const settings = redisSettingsFrom({
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: server.address,
      REDIS_TIMEOUT: `${TIMEOUT_MS}ms`,
      BACKEND_FAILURE_POLICY: policy,
    });
    const backend = createRedisBackend(settings, { clock, logger: sink.logger });
    const probe = new Redis(server.port, "127.0.0.1");
    await waitConnected(backend);
    return { backend, sink, probe };
  }

  async function outage(backend: RedisBackend, server: RedisServer, clock: FakeClock, limit: number) {
    await server.kill();
    const op = makeOp(clock, "policy", 1, { limit });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await backend.apply([op]))[0]);
    return answers;
  }

  it.each([
    ["allow", [0, 0, 0]],
    ["deny", [0, 0, 0]],
    ["local", [1, 2, 3]],
  ] as const)(
    "%s: answers while Redis is down, then switches back by itself, logging each switch once",
    async (policy, afters) => {
      const server = await farm.start();
      const clock = makeSuiteClock();
      const { backend, sink, probe } = await backendWith(policy, server, clock);
      const op = makeOp(clock, "policy", 1, { limit: 5 });
      expect((await backend.apply([op]))[0]?.used).toBe(1); // Redis decides while it is up
      const answers = await outage(backend, server, clock, 5);
      expect(answers.map((v) => v?.used)).toEqual(afters);
      expect(answers.every((v) => v?.admitted === (policy !== "deny"))).toBe(true);
      expect(countMessages(sink.lines, /^redis unavailable/)).toBe(1);
      await server.restart();
      let back: number | undefined;
      for (let i = 0; i < 150 && back === undefined; i++) {
        const v = (await backend.apply([op]))[0];
        if ((await probe.get(op.key).catch(() => null)) !== null) back = v?.used;
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(back).toBe(1); // counted by the restarted (empty) Redis again
      expect(countMessages(sink.lines, /^redis is back/)).toBe(1);
      expect(countMessages(sink.lines, /^redis unavailable/)).toBe(1);
      probe.disconnect();
      await backend.close();
    },
  );

  it("unavailable (default): rejects with StoreUnavailableError and logs the outage once", async () => {
    const server = await farm.start();
    const clock = makeSuiteClock();
    const { backend, sink, probe } = await backendWith("unavailable", server, clock);
    await server.kill();
    for (let i = 0; i < 3; i++) {
      await expect(backend.apply([makeOp(clock, "u", 1)])).rejects.toBeInstanceOf(StoreUnavailableError);
    }
    expect(countMessages(sink.lines, /^redis unavailable; answering UNAVAILABLE/)).toBe(1);
    probe.disconnect();
    await backend.close();
  });
});

describe("REDIS_HEALTH_CHECK_ACTIVE_CONNECTION", () => {
  it("reports unhealthy while the connection is down, healthy once it is back", async () => {
    const server = await farm.start();
    const clock = makeSuiteClock();
    const changes: boolean[] = [];
    const settings = redisSettingsFrom({
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: server.address,
      REDIS_HEALTH_CHECK_ACTIVE_CONNECTION: "true",
    });
    const backend = createRedisBackend(settings, {
      clock,
      logger: createLogSink("warn").logger,
      onHealthChange: (h) => changes.push(h),
    });
    expect(changes).toEqual([false]);
    await waitConnected({ connected: () => backend.healthy() });
    await server.kill();
    await waitConnected({ connected: () => !backend.healthy() });
    await server.restart();
    await waitConnected({ connected: () => backend.healthy() });
    expect(changes).toEqual([false, true, false, true]);
    await backend.close();
  });

  it("stays healthy without the setting, whatever Redis does", async () => {
    const clock = makeSuiteClock();
    const settings = redisSettingsFrom({ REDIS_SOCKET_TYPE: "tcp", REDIS_URL: `127.0.0.1:${await freePort()}` });
    const changes: boolean[] = [];
    const backend = createRedisBackend(settings, {
      clock,
      logger: createLogSink("warn").logger,
      onHealthChange: (h) => changes.push(h),
    });
    expect(backend.healthy()).toBe(true);
    expect(changes).toEqual([]);
    await backend.close();
  });
});

describe("REDIS_PERSECOND", () => {
  it("sends SECOND-unit counters to the per-second Redis and the rest to the main one", async () => {
    const main = await farm.start();
    const perSecond = await farm.start();
    const clock = makeSuiteClock();
    const settings = redisSettingsFrom({
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: main.address,
      REDIS_PERSECOND: "true",
      REDIS_PERSECOND_SOCKET_TYPE: "tcp",
      REDIS_PERSECOND_URL: perSecond.address,
    });
    const backend = createRedisBackend(settings, { clock, logger: createLogSink("warn").logger });
    await waitConnected(backend);
    const minute = makeOp(clock, "route_m", 2, { unit: "minute" });
    const second = makeOp(clock, "route_s", 3, { unit: "second" });
    const verdicts = await backend.apply([minute, second, minute]);
    expect(verdicts.map((v) => v.used)).toEqual([2, 3, 4]);
    expect(await main.cli("GET", minute.key)).toBe("4");
    expect(await main.cli("EXISTS", second.key)).toBe("0");
    expect(await perSecond.cli("GET", second.key)).toBe("3");
    expect(await perSecond.cli("EXISTS", minute.key)).toBe("0");
    await backend.close();
  });
});
