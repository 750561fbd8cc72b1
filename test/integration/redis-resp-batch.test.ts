/**
 * The RESP batch path of the Redis store (one written string and one reply collector per flush, through ioredis's
 * command queue) against a real redis-server: replies stay aligned with their commands when one of them is an error
 * reply, and a connection dropped with a batch in flight fails exactly that batch, counts nothing twice, and the
 * store serves again on the new connection.
 */
import { performance } from "node:perf_hooks";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import { createLogSink } from "../helpers/log-sink.js";
import { createRedisFarm, type RedisServer, redisSettingsFrom, waitConnected } from "../helpers/redis-servers.js";

const farm = createRedisFarm();
let server: RedisServer;
let inspect: Redis;

beforeAll(async () => {
  server = await farm.start();
  inspect = new Redis(server.port, "127.0.0.1");
});

afterAll(async () => {
  inspect.disconnect();
  await farm.stopAll();
});

async function makeStore(clock: FakeClock): Promise<RedisCounterStore> {
  const settings = redisSettingsFrom({ REDIS_SOCKET_TYPE: "tcp", REDIS_URL: server.address, REDIS_TIMEOUT: "2s" });
  const store = createRedisStore({
    endpoint: settings.main,
    clock,
    logger: createLogSink("warn").logger,
    expirationJitterMaxSeconds: 0,
  });
  await waitConnected(store);
  return store;
}

async function settled<T>(p: Promise<T>): Promise<{ value?: T; err?: unknown }> {
  try {
    return { value: await p };
  } catch (err) {
    return { err };
  }
}

describe("Redis store, one RESP batch per flush", () => {
  it("fails only the request whose command got an error reply; the rest of the batch is counted", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const run = `resp_${Date.now()}`;
    const bad = makeOp(clock, `${run}_text`, 1);
    await inspect.set(bad.key, "hello");
    const before = makeOp(clock, `${run}_a`, 1);
    const after = makeOp(clock, `${run}_b`, 2);
    // Same tick: one batch of INCRBY a, INCRBY text (error reply), INCRBY b.
    const [first, failed, last] = await Promise.all([
      settled(store.apply([before])),
      settled(store.apply([bad])),
      settled(store.apply([after])),
    ]);
    expect(first.value?.map((v) => v.used)).toEqual([1]);
    expect(failed.err).toBeInstanceOf(StoreUnavailableError);
    expect(last.value?.map((v) => v.used)).toEqual([2]);
    // The connection's reply queue is still aligned for the next batches.
    expect((await store.apply([before, after])).map((v) => v.used)).toEqual([2, 4]);
    await store.close();
  });

  it("fails a batch whose connection is killed before it is answered, counts it nowhere, and serves again", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const op = makeOp(clock, `resp_killed_${Date.now()}`, 1);
    const list = String(await inspect.client("LIST"));
    const ids = list
      .split("\n")
      .filter((line) => line.includes(" name=sluice "))
      .map((line) => /id=(\d+)/.exec(line)?.[1]);
    expect(ids).toHaveLength(1);
    await inspect.client("PAUSE", 300, "WRITE"); // the INCRBY waits inside Redis
    const pending = settled(store.apply([op]));
    await new Promise((r) => setTimeout(r, 50));
    await inspect.client("KILL", "ID", ids[0] as string);
    const started = performance.now();
    const outcome = await pending;
    expect(outcome.err).toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(200);
    await new Promise((r) => setTimeout(r, 300)); // the pause ends
    await waitConnected(store);
    expect(await inspect.get(op.key)).toBeNull(); // the killed INCRBY never ran, and was not resent
    expect((await store.apply([op])).map((v) => v.used)).toEqual([1]);
    await store.close();
  });
});
