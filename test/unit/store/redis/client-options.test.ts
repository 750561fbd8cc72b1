import { describe, expect, it } from "vitest";
import { SettingsError } from "../../../../src/domain/errors.js";
import { Problems } from "../../../../src/settings/problems.js";
import { parseRedisSettings } from "../../../../src/settings/redis-settings.js";
import {
  clusterOptions,
  RECONNECT_CAP_MS,
  reconnectDelayMs,
  redisOptions,
  stallTimeoutMs,
} from "../../../../src/store/redis/client-options.js";

function endpoint(env: Record<string, string>) {
  const p = new Problems();
  const s = parseRedisSettings(env, p);
  p.throwIfAny();
  return s.main;
}

describe("reconnectDelayMs()", () => {
  it.each([
    [1, 25, 50],
    [2, 50, 100],
    [5, 400, 800],
    [6, 500, 1_000],
    [50, 500, 1_000],
  ])("backs off attempt %i between %i and %i ms, never beyond 1 s", (attempt, min, max) => {
    expect(reconnectDelayMs(attempt, () => 0)).toBe(min);
    expect(reconnectDelayMs(attempt, () => 1)).toBe(max);
    expect(reconnectDelayMs(attempt)).toBeLessThanOrEqual(RECONNECT_CAP_MS);
  });
});

describe("redisOptions()", () => {
  it("fails fast: no offline queue, no retries or resends, a stall timeout, a bounded connect", () => {
    const o = redisOptions(endpoint({ REDIS_URL: "redis://u:p@cache:6380/2", REDIS_TIMEOUT: "20ms" }));
    expect(o).toMatchObject({
      host: "cache",
      port: 6380,
      db: 2,
      username: "u",
      password: "p",
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 1_000,
      socketTimeout: 1_000,
    });
    expect(stallTimeoutMs(endpoint({ REDIS_URL: "h:1", REDIS_TIMEOUT: "2s" }))).toBe(4_000);
  });

  it("points a unix-socket endpoint at the path", () => {
    expect(redisOptions(endpoint({ REDIS_URL: "/run/r.sock" }))).toMatchObject({ path: "/run/r.sock" });
  });

  it("configures Sentinel with its own credentials and the failover detector", () => {
    const o = redisOptions(
      endpoint({
        REDIS_TYPE: "sentinel",
        REDIS_URL: "m,s1:26379,s2:26379",
        REDIS_AUTH: "pw",
        REDIS_SENTINEL_AUTH: "spw",
      }),
    );
    expect(o).toMatchObject({
      name: "m",
      role: "master",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
      ],
      password: "pw",
      sentinelPassword: "spw",
      failoverDetector: true,
    });
  });

  it("throws SettingsError naming the variable when a TLS file is missing", () => {
    const e = endpoint({ REDIS_URL: "h:1", REDIS_TLS: "true", REDIS_TLS_CACERT: "/nonexistent/ca.pem" });
    expect(() => redisOptions(e)).toThrow(SettingsError);
    expect(() => redisOptions(e)).toThrow(/REDIS_TLS_CACERT=\/nonexistent\/ca\.pem/);
  });
});

describe("clusterOptions()", () => {
  it("seeds the cluster and passes the connection options to every node", () => {
    const { nodes, options } = clusterOptions(
      endpoint({ REDIS_TYPE: "cluster", REDIS_URL: "a:7000,b:7001", REDIS_AUTH: "pw" }),
    );
    expect(nodes).toEqual([
      { host: "a", port: 7000 },
      { host: "b", port: 7001 },
    ]);
    expect(options.enableOfflineQueue).toBe(false);
    expect(options.redisOptions).toMatchObject({ password: "pw", socketTimeout: 1_000, maxRetriesPerRequest: 0 });
  });
});
