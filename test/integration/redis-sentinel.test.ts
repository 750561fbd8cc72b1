/**
 * REDIS_TYPE=sentinel against real `redis-server --sentinel` processes watching a master and its replica, including
 * a master failover in the middle of traffic.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/domain/errors.js";
import type { Outcome } from "../../src/domain/types.js";
import { createRedisBackend, type RedisBackend } from "../../src/store/redis/create-redis-backend.js";
import { makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import { createLogSink } from "../helpers/log-sink.js";
import {
  createRedisFarm,
  redisSettingsFrom,
  type SentinelSet,
  waitConnected,
  waitFor,
} from "../helpers/redis-servers.js";

const farm = createRedisFarm();
let set: SentinelSet;

beforeAll(async () => {
  set = await farm.startSentinelSet({ password: "master-pw", sentinelPassword: "sentinel-pw" });
});
afterAll(() => farm.stopAll());

function sentinelBackend(timeout = "200ms"): RedisBackend {
  const settings = redisSettingsFrom({
    REDIS_TYPE: "SENTINEL", // case-insensitive, as the reference
    REDIS_URL: set.url,
    REDIS_AUTH: "master-pw",
    REDIS_SENTINEL_AUTH: "sentinel-pw",
    REDIS_TIMEOUT: timeout,
  });
  return createRedisBackend(settings, { clock: makeSuiteClock(), logger: createLogSink("warn").logger });
}

describe("Redis Sentinel", () => {
  it("finds the master through the sentinels (with REDIS_AUTH and REDIS_SENTINEL_AUTH) and counts there", async () => {
    const backend = sentinelBackend();
    await waitConnected(backend);
    const clock = makeSuiteClock();
    const op = makeOp(clock, "sentinel_basic", 2);
    expect((await backend.apply([op, op])).map((v) => v.used)).toEqual([2, 4]);
    expect(await set.master.cli("GET", op.key)).toBe("4");
    await backend.close();
  });

  it("survives a master failover during traffic: only UNAVAILABLE while it happens, then counts on the new master", async () => {
    const backend = sentinelBackend();
    await waitConnected(backend);
    const clock = makeSuiteClock();
    const op = makeOp(clock, "sentinel_failover", 1);
    const errors: unknown[] = [];
    const ok: Outcome[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        try {
          ok.push(...(await backend.apply([op])));
        } catch (err) {
          errors.push(err);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor(async () => ok.length >= 20, "traffic before the failover");
    const newMaster = set.replica;
    // Let replication catch up first, so the new master's counter continues from the old one's.
    await waitFor(async () => Number(await newMaster.cli("GET", op.key)) >= 20, "replica has the counter");
    await set.sentinels[0]?.cli("SENTINEL", "FAILOVER", set.masterName);
    // The sentinels announce the new master (+switch-master) once the replica is promoted. Until then clients still
    // write to the old master (replication is asynchronous; those writes are lost when it resyncs): what counts is
    // that the store follows the switch by itself, without waiting for the old master to be demoted.
    const newAddress = String(newMaster.port);
    await waitFor(
      async () =>
        (await set.sentinels[0]?.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", set.masterName))?.includes(newAddress) ??
        false,
      "sentinels switched to the new master",
      15_000,
    );
    const switchedAt = performance.now();
    const countBefore = ok.length;
    await waitFor(async () => ok.length > countBefore + 20, "traffic on the new master", 10_000);
    const recoveredMs = performance.now() - switchedAt;
    running = false;
    await traffic;

    expect(recoveredMs).toBeLessThan(5_000);
    for (const err of errors) expect(err).toBeInstanceOf(StoreUnavailableError);
    // The counter lives on the new master now, continuing from the replicated value.
    const onNew = Number(await newMaster.cli("GET", op.key));
    expect(onNew).toBe(ok[ok.length - 1]?.used);
    expect(onNew).toBeGreaterThan(40); // 20 replicated before the failover + 20 after it
    await backend.close();
  });
});
