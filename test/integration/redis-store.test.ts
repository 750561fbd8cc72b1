/**
 * The Redis store against a real redis-server: the CounterStore contract (exactly as on memory), the reference key
 * format and TTLs, the command budget (fewer commands than INCRBY + EXPIRE per descriptor), unix sockets and AUTH.
 */

import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RuleSource } from "../../src/domain/ports.js";
import type { Descriptor } from "../../src/domain/types.js";
import { DEFAULT_ENGINE_OPTIONS } from "../../src/engine/options.js";
import { createRateLimiter } from "../../src/engine/rate-limiter.js";
import { compileRuleSet } from "../../src/rules/index.js";
import { LIMITS_LUA } from "../../src/store/redis/limits-script.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { describeCounterStore, makeLimitOp, makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import { describeLimits } from "../contract/limits.contract.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { createLogSink } from "../helpers/log-sink.js";
import { createRedisFarm, type RedisServer, redisSettingsFrom, waitConnected } from "../helpers/redis-servers.js";
import { waitFor } from "../helpers/service.js";

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

async function makeStore(
  clock: FakeClock,
  env: Readonly<Record<string, string>> = {},
  random: () => number = () => 0,
): Promise<RedisCounterStore> {
  const settings = redisSettingsFrom({
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_URL: server.address,
    REDIS_TIMEOUT: "2s",
    ...env,
  });
  const store = createRedisStore({
    endpoint: settings.main,
    clock,
    logger: createLogSink("warn").logger,
    expirationJitterMaxSeconds: settings.expirationJitterMaxSeconds,
    random,
  });
  await waitConnected(store);
  return store;
}

async function countKeys(prefix: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  do {
    const [next, keys] = await inspect.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== "0");
  return n;
}

// Each contract test starts on an empty Redis, as each starts with a new, empty memory store.
describeCounterStore(
  "redis single",
  async (clock) => {
    await inspect.flushall();
    return makeStore(clock);
  },
  { countKeys: (_s, prefix) => countKeys(prefix) },
);

describeLimits("redis single", async (clock) => {
  await inspect.flushall();
  return makeStore(clock);
});

function descriptor(key: string, value: string, hits = 1): Descriptor {
  return { entries: [{ key, value }], limit: undefined, hits, negative: false };
}

function rules(yaml: string): RuleSource {
  const ruleSet = compileRuleSet([{ name: "config.yaml", text: yaml }], { mergeDomainConfig: false });
  return { current: () => ruleSet };
}

const USER_PER_MINUTE = `
domain: rl
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 5 }
`;

describe("reference key compatibility", () => {
  it("writes the reference's exact key and counter value, with a TTL covering the rest of the window", async () => {
    const clock = new FakeClock(1_700_000_065_000); // MINUTE window starts at 1700000040
    const store = await makeStore(clock, { EXPIRATION_JITTER_MAX_SECONDS: "300" }, () => 0.5);
    await inspect.del("rl_user_42_1700000040");
    const limiter = createRateLimiter({ rules: rules(USER_PER_MINUTE), store, clock, options: DEFAULT_ENGINE_OPTIONS });
    const decision = await limiter.decide({ domain: "rl", descriptors: [descriptor("user", "42", 2)] });
    expect(decision.overallCode).toBe("OK");
    expect(await inspect.get("rl_user_42_1700000040")).toBe("2");
    // rest of the window (35 s) + jitter floor(0.5 * 300) = 185 s
    expect(await inspect.ttl("rl_user_42_1700000040")).toBeGreaterThanOrEqual(184);
    expect(await inspect.ttl("rl_user_42_1700000040")).toBeLessThanOrEqual(185);
    await store.close();
  });

  it("prepends CACHE_KEY_PREFIX and counts together with the reference on one key", async () => {
    const clock = new FakeClock(1_700_000_065_000);
    const store = await makeStore(clock);
    const key = "sluice:rl_user_7_1700000040";
    await inspect.del(key);
    await inspect.incrby(key, 3); // what envoyproxy/ratelimit would have counted
    await inspect.expire(key, 60);
    const options = { ...DEFAULT_ENGINE_OPTIONS, cacheKeyPrefix: "sluice:" };
    const limiter = createRateLimiter({ rules: rules(USER_PER_MINUTE), store, clock, options });
    const first = await limiter.decide({ domain: "rl", descriptors: [descriptor("user", "7")] });
    expect(first.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 1 });
    await limiter.decide({ domain: "rl", descriptors: [descriptor("user", "7")] });
    const third = await limiter.decide({ domain: "rl", descriptors: [descriptor("user", "7")] });
    expect(third.overallCode).toBe("OVER_LIMIT");
    expect(await inspect.get(key)).toBe("6");
    expect(await inspect.ttl(key)).toBeGreaterThan(50); // an existing key keeps the TTL it has
    await store.close();
  });

  it("sets no TTL beyond the window when the jitter is 0", async () => {
    const clock = makeSuiteClock();
    clock.advance(15_000);
    const store = await makeStore(clock, { EXPIRATION_JITTER_MAX_SECONDS: "0" }, () => 0.99);
    const op = makeOp(clock, `ttl_${Date.now()}`, 1);
    await store.apply([op]);
    await waitTtl(op.key);
    const ttl = await inspect.ttl(op.key);
    expect(ttl).toBeGreaterThanOrEqual(44);
    expect(ttl).toBeLessThanOrEqual(45);
    await store.close();
  });
});

/** The EXPIRE rides in the next pipeline, a moment after the INCRBY reply. */
async function waitTtl(key: string): Promise<void> {
  for (let i = 0; i < 100 && (await inspect.ttl(key)) < 0; i++) await new Promise((r) => setTimeout(r, 10));
}

async function commandCalls(): Promise<Record<string, number>> {
  const info = await inspect.info("commandstats");
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) calls[m[1] as string] = Number(m[2]);
  return calls;
}

describe("Redis command budget", () => {
  it("sends one INCRBY per key and tick for concurrent requests, and one EXPIRE per new key", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const base = `budget_${Date.now()}`;
    await inspect.config("RESETSTAT");
    const request = () => store.apply([0, 1, 2].map((i) => makeOp(clock, `${base}_${i}`, 1)));
    const results = await Promise.all(Array.from({ length: 50 }, request));
    await waitTtl(makeOp(clock, `${base}_2`, 1).key);
    const calls = await commandCalls();
    expect(calls["incrby"]).toBe(3);
    expect(calls["expire"]).toBe(3);
    expect(calls["eval"] ?? 0).toBe(0);
    expect(calls["evalsha"] ?? 0).toBe(0);
    // every request still got its own exact count
    const seen = results.map((r) => r[0]?.used).sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await store.close();
  });

  it("costs fewer than two commands per descriptor for sequential requests", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const key = `seq_${Date.now()}`;
    await inspect.config("RESETSTAT");
    for (let i = 0; i < 20; i++) await store.apply([makeOp(clock, key, 1)]);
    const calls = await commandCalls();
    expect(calls["incrby"]).toBe(20);
    expect(calls["expire"]).toBe(1);
    await store.close();
  });

  it("reads check-only ops with GET, creating nothing", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    await inspect.config("RESETSTAT");
    const op = makeOp(clock, `get_${Date.now()}`, 0);
    expect(await store.apply([op])).toMatchObject([{ admitted: true, used: 0, consumed: 0, fromLocalCache: false }]);
    const calls = await commandCalls();
    expect(calls["get"]).toBe(1);
    expect(await inspect.exists(op.key)).toBe(0);
    await store.close();
  });
});

describe("the limits script", () => {
  it("is sent by digest once loaded, and by body again after SCRIPT FLUSH, losing no count", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const op = makeLimitOp(clock, `script_${Date.now()}`, 1, { algorithm: "token_bucket", burst: 10 });
    expect((await store.apply([op]))[0]?.remaining).toBe(9);
    const digest = createHash("sha1").update(LIMITS_LUA).digest("hex");
    await waitFor(async () => ((await inspect.script("EXISTS", digest)) as number[])[0] === 1, 5_000);
    await inspect.config("RESETSTAT");
    expect((await store.apply([op]))[0]?.remaining).toBe(8);
    const calls = await commandCalls();
    expect(calls["evalsha"]).toBe(1);
    expect(calls["eval"]).toBeUndefined();
    await inspect.script("FLUSH");
    // The first call after the flush meets NOSCRIPT: nothing ran, the caller is told UNAVAILABLE.
    await expect(store.apply([op])).rejects.toThrow(/NOSCRIPT/);
    expect((await store.apply([op]))[0]?.remaining).toBe(7);
    await store.close();
  });
});

describe("limits script keys and TTLs", () => {
  it("sets a bucket key's TTL when it is created, keeps it (SET KEEPTTL) while its deadline holds, and deletes it when full", async () => {
    const clock = makeSuiteClock(); // on a whole second
    const store = await makeStore(clock);
    // 1,000 per minute: a unit drains in 60 ms, so two hits leave the bucket full again 120 ms from now.
    const spec = { algorithm: "token_bucket", requestsPerUnit: 1000, burst: 10 } as const;
    const op = makeLimitOp(clock, `ttl_tb_${Date.now()}`, 1, spec);
    await inspect.config("RESETSTAT");
    await store.apply([op]);
    await store.apply([op]);
    let calls = await commandCalls();
    expect([calls["psetex"], calls["set"], calls["del"]]).toEqual([1, 1, undefined]);
    // Deadline: the second after the one in which the bucket is full, plus one: 2 s from this whole second.
    const ttl = await inspect.pttl(op.key);
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(2_000);
    // A second later the bucket was full again; a new hit moves the deadline a second on: the TTL is set again.
    clock.advance(1_000);
    const later = { ...op, nowMs: clock.nowMs() };
    await store.apply([later]);
    calls = await commandCalls();
    expect([calls["psetex"], calls["set"]]).toEqual([2, 1]);
    expect(await inspect.pttl(op.key)).toBeGreaterThan(1_000);
    // A refund of that hit: the bucket is full, the key goes.
    await store.apply([{ ...later, negative: true }]);
    calls = await commandCalls();
    expect(calls["del"]).toBe(1);
    expect(await inspect.exists(op.key)).toBe(0);
    // A check on a fresh key writes nothing, and a full bucket is never deleted twice.
    await store.apply([{ ...later, hits: 0 }]);
    await store.apply([{ ...later, negative: true }]);
    expect((await commandCalls())["del"]).toBe(1);
    await store.close();
  });

  it("sets a window key's TTL to the end of its window once, and never deletes a key that is not there", async () => {
    const clock = makeSuiteClock();
    clock.advance(15_000);
    const store = await makeStore(clock);
    const sliding = makeLimitOp(clock, `ttl_sw_${Date.now()}`, 1, { algorithm: "sliding_window", requestsPerUnit: 10 });
    await inspect.config("RESETSTAT");
    await store.apply([sliding]);
    await store.apply([sliding]);
    const calls = await commandCalls();
    // The current window's key is created once (the previous window's, absent, is left alone), then kept.
    expect([calls["psetex"], calls["set"], calls["del"]]).toEqual([1, 1, undefined]);
    const current = `${sliding.key}_${sliding.windowStartSeconds}`;
    expect(await inspect.get(current)).toBe("2");
    // Read until the end of the next window: 105 s from 15 s into this minute.
    const ttl = await inspect.pttl(current);
    expect(ttl).toBeGreaterThan(100_000);
    expect(ttl).toBeLessThanOrEqual(105_000);
    await store.close();
  });

  it("moves a first-hit window's TTL only when a new window starts", async () => {
    const clock = makeSuiteClock();
    const store = await makeStore(clock);
    const op = makeLimitOp(clock, `ttl_fh_${Date.now()}`, 1, { requestsPerUnit: 5, windowAnchor: "first_hit" });
    await inspect.config("RESETSTAT");
    await store.apply([op]);
    clock.advance(20_000);
    await store.apply([{ ...op, nowMs: clock.nowMs() }]);
    expect([(await commandCalls())["psetex"], (await commandCalls())["set"]]).toEqual([1, 1]);
    // Kept: the TTL set at the first hit (a minute of Redis time), not one re-set 20 s (of Sluice time) later.
    expect(await inspect.pttl(op.key)).toBeGreaterThan(50_000);
    clock.advance(40_000);
    await store.apply([{ ...op, nowMs: clock.nowMs() }]);
    expect((await commandCalls())["psetex"]).toBe(2);
    expect((await inspect.get(op.key))?.split(" ")).toEqual([String(clock.nowMs()), "1"]);
    await store.close();
  });
});

describe("connection settings", () => {
  it("connects over a unix socket (REDIS_SOCKET_TYPE=unix)", async () => {
    const unix = await farm.start({ unixSocket: true });
    const clock = makeSuiteClock();
    const store = await makeStore(clock, { REDIS_SOCKET_TYPE: "unix", REDIS_URL: unix.socketPath ?? "" });
    const op = makeOp(clock, "unix_key", 2);
    expect((await store.apply([op, op])).map((o) => [o.used, o.consumed])).toEqual([
      [2, 2],
      [4, 2],
    ]);
    expect(await unix.cli("GET", op.key)).toBe("4");
    await store.close();
  });

  it("authenticates with REDIS_AUTH (password, and user:password) and never logs the secret", async () => {
    const secret = "s3cret-Pa55";
    const locked = await farm.start({ args: ["--requirepass", secret] });
    await locked.cli("-a", secret, "--no-auth-warning", "ACL", "SETUSER", "sluice", "on", ">u-pass", "~*", "+@all");
    const clock = makeSuiteClock();
    for (const auth of [secret, "sluice:u-pass"]) {
      const store = await makeStore(clock, { REDIS_URL: locked.address, REDIS_AUTH: auth });
      expect((await store.apply([makeOp(clock, "auth_key", 1)]))[0]?.consumed).toBe(1);
      await store.close();
    }
    const sink = createLogSink("debug");
    const settings = redisSettingsFrom({
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: `redis://sluice:wrong-${secret}@${locked.address}`,
    });
    const wrong = createRedisStore({
      endpoint: settings.main,
      clock,
      logger: sink.logger,
      expirationJitterMaxSeconds: 0,
    });
    await new Promise((r) => setTimeout(r, 300));
    await expect(wrong.apply([makeOp(clock, "auth_key", 1)])).rejects.toThrow(/not connected/);
    await wrong.close();
    const logged = JSON.stringify(sink.lines);
    expect(logged).toContain("redis connection error");
    expect(logged).not.toContain(secret);
  });
});
