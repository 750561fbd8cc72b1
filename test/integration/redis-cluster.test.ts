/**
 * REDIS_TYPE=cluster against a real 3-master Redis Cluster (redis-cli --cluster create): the CounterStore contract,
 * and requests whose descriptors spread over slots served by different nodes.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisBackend } from "../../src/store/redis/create-redis-backend.js";
import { keySlot } from "../../src/store/redis/key-slot.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { describeCounterStore, makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import { describeLimits } from "../contract/limits.contract.js";
import type { FakeClock } from "../helpers/fake-clock.js";
import { createLogSink } from "../helpers/log-sink.js";
import { createRedisFarm, type RedisCluster, redisSettingsFrom, waitConnected } from "../helpers/redis-servers.js";

const farm = createRedisFarm();
let cluster: RedisCluster;
let nodes: Redis[];

beforeAll(async () => {
  cluster = await farm.startCluster();
  nodes = cluster.nodes.map((n) => new Redis(n.port, "127.0.0.1"));
});

afterAll(async () => {
  for (const n of nodes) n.disconnect();
  await farm.stopAll();
});

function clusterEnv(): Record<string, string> {
  return { REDIS_TYPE: "cluster", REDIS_URL: cluster.url, REDIS_TIMEOUT: "2s" };
}

async function makeStore(clock: FakeClock): Promise<RedisCounterStore> {
  const settings = redisSettingsFrom(clusterEnv());
  const store = createRedisStore({
    endpoint: settings.main,
    clock,
    logger: createLogSink("warn").logger,
    expirationJitterMaxSeconds: 0,
  });
  await waitConnected(store);
  return store;
}

async function countKeys(prefix: string): Promise<number> {
  let n = 0;
  for (const node of nodes) n += (await node.keys(`${prefix}*`)).length;
  return n;
}

describeCounterStore(
  "redis cluster",
  async (clock) => {
    await Promise.all(nodes.map((n) => n.flushall()));
    return makeStore(clock);
  },
  { countKeys: (_s, prefix) => countKeys(prefix) },
);

describeLimits("redis cluster", async (clock) => {
  await Promise.all(nodes.map((n) => n.flushall()));
  return makeStore(clock);
});

/** Which node (index into `nodes`) serves a key, according to the cluster itself. */
async function ownerOf(key: string): Promise<number> {
  const slot = keySlot(key);
  expect(await nodes[0]?.cluster("KEYSLOT", key)).toBe(slot);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as Redis;
    if ((await node.cluster("COUNTKEYSINSLOT", slot)) > 0) return i;
  }
  return -1;
}

describe("Redis Cluster", () => {
  it("answers requests whose descriptors live on all three masters, with one INCRBY per key", async () => {
    const clock = makeSuiteClock();
    const settings = redisSettingsFrom(clusterEnv());
    const backend = createRedisBackend(settings, { clock, logger: createLogSink("warn").logger });
    await waitConnected(backend);
    const run = Date.now();
    const ops = Array.from({ length: 30 }, (_, i) => makeOp(clock, `user_${i * 7_919}_${run}`, i + 1));
    await Promise.all(nodes.map((n) => n.config("RESETSTAT")));
    const requests = await Promise.all([backend.apply(ops), backend.apply(ops)]);
    expect(requests[0]?.map((v) => v.used)).toEqual(ops.map((op) => op.hits));
    expect(requests[1]?.map((v) => v.used)).toEqual(ops.map((op) => 2 * op.hits));

    const owners = await Promise.all(ops.map((op) => ownerOf(op.key)));
    expect(new Set(owners)).toEqual(new Set([0, 1, 2]));
    for (let i = 0; i < ops.length; i++) {
      const node = nodes[owners[i] as number] as Redis;
      expect(await node.get((ops[i] as (typeof ops)[number]).key)).toBe(String(2 * (i + 1)));
    }
    let incrbys = 0;
    for (const node of nodes) {
      const stats = await node.info("commandstats");
      incrbys += Number(/cmdstat_incrby:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    }
    expect(incrbys).toBe(30); // both concurrent requests shared one INCRBY per key
    await backend.close();
  });
});
