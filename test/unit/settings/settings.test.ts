import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { SettingsError } from "../../../src/domain/errors.js";
import { IGNORED_REFERENCE_ENV, parseSettings } from "../../../src/settings/settings.js";

const CWD = "/srv/app";

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseSettings(env, CWD);
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
  return [];
}

describe("parseSettings()", () => {
  it("uses the reference's defaults for an empty environment", () => {
    const s = parseSettings({}, CWD);
    expect(s.http).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(s.grpc).toEqual({
      host: "0.0.0.0",
      port: 8081,
      uds: undefined,
      maxConnectionAgeMs: 24 * 3_600_000,
      maxConnectionAgeGraceMs: 3_600_000,
    });
    expect(s.debug).toEqual({ host: "0.0.0.0", port: 6070 });
    expect(s.logLevel).toBe("warn");
    expect(s.logFormat).toBe("text");
    expect(s.runtime).toEqual({
      root: CWD,
      subdirectory: "",
      appDirectory: "config",
      ignoreDotFiles: false,
      watchRoot: true,
      mergeDomainConfig: false,
    });
    expect(s.backend).toBe("memory");
    expect(s.redis).toBeUndefined();
    expect(s.cacheKeyPrefix).toBe("");
    expect(s.nearLimitRatio).toBe(0.8);
    expect(s.shadowMode).toBe(false);
    expect(s.quotaMode).toBe(false);
    expect(s.stopCacheKeyIncrementWhenOverlimit).toBe(false);
    expect(s.localCacheSizeBytes).toBe(0);
    expect(s.responseHeaders).toBeUndefined();
    expect(s.responseDynamicMetadata).toBe(false);
    expect(s.healthyWithAtLeastOneConfigLoaded).toBe(false);
    expect(s.memoryMaxKeys).toBe(1_000_000);
    expect(s.shutdownTimeoutMs).toBe(5_000);
    expect(s.ignoredEnv).toEqual([]);
  });

  it("returns a deeply frozen object", () => {
    const s = parseSettings({}, CWD);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.http)).toBe(true);
    expect(Object.isFrozen(s.runtime)).toBe(true);
  });

  it("defaults the working directory when none is given", () => {
    expect(parseSettings({}).runtime.root).toBe(process.cwd());
  });

  it("reads every listener variable", () => {
    const s = parseSettings(
      {
        HOST: "127.0.0.1",
        PORT: "9000",
        GRPC_HOST: "::",
        GRPC_PORT: "9001",
        GRPC_UDS: "/tmp/rls.sock",
        GRPC_MAX_CONNECTION_AGE: "1h",
        GRPC_MAX_CONNECTION_AGE_GRACE: "30s",
        DEBUG_HOST: "localhost",
        DEBUG_PORT: "0",
      },
      CWD,
    );
    expect(s.http).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(s.grpc).toEqual({
      host: "::",
      port: 9001,
      uds: "/tmp/rls.sock",
      maxConnectionAgeMs: 3_600_000,
      maxConnectionAgeGraceMs: 30_000,
    });
    expect(s.debug).toEqual({ host: "localhost", port: 0 });
  });

  it("reads every rule-loading variable", () => {
    const s = parseSettings(
      {
        RUNTIME_ROOT: "/data",
        RUNTIME_SUBDIRECTORY: "ratelimit",
        RUNTIME_APPDIRECTORY: "rules",
        RUNTIME_IGNOREDOTFILES: "true",
        RUNTIME_WATCH_ROOT: "false",
        MERGE_DOMAIN_CONFIG: "1",
      },
      CWD,
    );
    expect(s.runtime).toEqual({
      root: "/data",
      subdirectory: "ratelimit",
      appDirectory: "rules",
      ignoreDotFiles: true,
      watchRoot: false,
      mergeDomainConfig: true,
    });
  });

  it("reads every engine variable", () => {
    const s = parseSettings(
      {
        CACHE_KEY_PREFIX: "rl:",
        NEAR_LIMIT_RATIO: "0.5",
        SHADOW_MODE: "true",
        QUOTA_MODE: "True",
        STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT: "t",
        LOCAL_CACHE_SIZE_IN_BYTES: "1048576",
        RESPONSE_DYNAMIC_METADATA: "TRUE",
        HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED: "true",
        MEMORY_MAX_KEYS: "5000",
        SHUTDOWN_TIMEOUT: "2s",
      },
      CWD,
    );
    expect(s.cacheKeyPrefix).toBe("rl:");
    expect(s.nearLimitRatio).toBe(0.5);
    expect(s.shadowMode).toBe(true);
    expect(s.quotaMode).toBe(true);
    expect(s.stopCacheKeyIncrementWhenOverlimit).toBe(true);
    expect(s.localCacheSizeBytes).toBe(1_048_576);
    expect(s.responseDynamicMetadata).toBe(true);
    expect(s.healthyWithAtLeastOneConfigLoaded).toBe(true);
    expect(s.memoryMaxKeys).toBe(5000);
    expect(s.shutdownTimeoutMs).toBe(2000);
  });

  it("enables response headers with the default names", () => {
    expect(parseSettings({ LIMIT_RESPONSE_HEADERS_ENABLED: "true" }, CWD).responseHeaders).toEqual({
      limitHeader: "RateLimit-Limit",
      remainingHeader: "RateLimit-Remaining",
      resetHeader: "RateLimit-Reset",
    });
  });

  it("uses custom response header names", () => {
    const s = parseSettings(
      {
        LIMIT_RESPONSE_HEADERS_ENABLED: "true",
        LIMIT_LIMIT_HEADER: "X-Limit",
        LIMIT_REMAINING_HEADER: "X-Remaining",
        LIMIT_RESET_HEADER: "X-Reset",
      },
      CWD,
    );
    expect(s.responseHeaders).toEqual({
      limitHeader: "X-Limit",
      remainingHeader: "X-Remaining",
      resetHeader: "X-Reset",
    });
  });

  it.each([
    ["WARN", "warn"],
    ["warning", "warn"],
    ["info", "info"],
    ["INFO", "info"],
    ["debug", "debug"],
    ["Debug", "debug"],
    ["trace", "trace"],
    ["error", "error"],
    ["fatal", "fatal"],
    ["panic", "fatal"],
  ])("accepts LOG_LEVEL=%s as %s", (value, level) => {
    expect(parseSettings({ LOG_LEVEL: value }, CWD).logLevel).toBe(level);
  });

  it.each([
    ["json", "json"],
    ["JSON", "json"],
    ["text", "text"],
  ])("accepts LOG_FORMAT=%s", (value, format) => {
    expect(parseSettings({ LOG_FORMAT: value }, CWD).logFormat).toBe(format);
  });

  it("chooses the redis backend when REDIS_URL is set and BACKEND_TYPE is not", () => {
    const s = parseSettings({ REDIS_SOCKET_TYPE: "tcp", REDIS_URL: "localhost:6379" }, CWD);
    expect(s.backend).toBe("redis");
    expect(s.redis).toBeDefined();
  });

  it("keeps the memory backend when asked, even with REDIS_URL set", () => {
    const s = parseSettings({ BACKEND_TYPE: "memory", REDIS_URL: "localhost:6379" }, CWD);
    expect(s.backend).toBe("memory");
    expect(s.redis).toBeUndefined();
  });

  it("does not validate REDIS_* for the memory backend", () => {
    expect(parseSettings({ REDIS_SOCKET_TYPE: "bogus" }, CWD).backend).toBe("memory");
  });

  it("accepts BACKEND_TYPE in any case", () => {
    expect(parseSettings({ BACKEND_TYPE: "Redis", REDIS_URL: "localhost:6379" }, CWD).backend).toBe("redis");
  });

  it("accepts and lists reference variables it does not implement", () => {
    const s = parseSettings(
      { MEMCACHE_HOST_PORT: "m:11211", TRACING_ENABLED: "true", CONFIG_TYPE: "GRPC_XDS_SOTW" },
      CWD,
    );
    expect(s.ignoredEnv).toEqual(["MEMCACHE_HOST_PORT"]);
    expect(s.configSources).toEqual(["GRPC_XDS_SOTW"]);
  });

  it("never fails on any ignored reference variable, whatever its value", () => {
    const env = Object.fromEntries(IGNORED_REFERENCE_ENV.map((name) => [name, "garbage value"]));
    expect(parseSettings(env, CWD).ignoredEnv).toHaveLength(IGNORED_REFERENCE_ENV.length);
  });

  it("reads MAX_CONNECTIONS (default 10,000) and rejects garbage", () => {
    expect(parseSettings({}, CWD).maxConnections).toBe(10_000);
    expect(parseSettings({ MAX_CONNECTIONS: "50" }, CWD).maxConnections).toBe(50);
    expect(() => parseSettings({ MAX_CONNECTIONS: "0" }, CWD)).toThrow(/MAX_CONNECTIONS/);
  });

  it("treats empty values as unset", () => {
    expect(parseSettings({ PORT: "", LOG_LEVEL: "", RUNTIME_ROOT: "" }, CWD)).toMatchObject({
      http: { port: 8080 },
      logLevel: "warn",
      runtime: { root: CWD },
    });
  });

  it.each([
    ["PORT", "abc", 'PORT="abc" is not an integer'],
    ["PORT", "65536", "PORT=65536 is out of range [0, 65535]"],
    ["GRPC_PORT", "-1", "GRPC_PORT=-1 is out of range [0, 65535]"],
    ["DEBUG_PORT", "80.5", 'DEBUG_PORT="80.5" is not an integer'],
    ["GRPC_MAX_CONNECTION_AGE", "forever", 'GRPC_MAX_CONNECTION_AGE="forever" is not a duration'],
    ["GRPC_MAX_CONNECTION_AGE", "1000h", 'GRPC_MAX_CONNECTION_AGE="1000h" is too long'],
    ["GRPC_MAX_CONNECTION_AGE_GRACE", "1y", 'GRPC_MAX_CONNECTION_AGE_GRACE="1y" is not a duration'],
    ["LOG_LEVEL", "verbose", 'LOG_LEVEL="verbose" is not one of'],
    ["LOG_FORMAT", "yaml", 'LOG_FORMAT="yaml" is not one of text|json'],
    ["RUNTIME_IGNOREDOTFILES", "yes", 'RUNTIME_IGNOREDOTFILES="yes" is not a boolean'],
    ["RUNTIME_WATCH_ROOT", "no", 'RUNTIME_WATCH_ROOT="no" is not a boolean'],
    ["MERGE_DOMAIN_CONFIG", "2", 'MERGE_DOMAIN_CONFIG="2" is not a boolean'],
    ["BACKEND_TYPE", "memcache", 'BACKEND_TYPE="memcache" is not supported by Sluice'],
    ["BACKEND_TYPE", "dynamo", 'BACKEND_TYPE="dynamo" is not one of memory|redis'],
    ["SHADOW_MODE", "on", 'SHADOW_MODE="on" is not a boolean'],
    ["QUOTA_MODE", "off", 'QUOTA_MODE="off" is not a boolean'],
    ["NEAR_LIMIT_RATIO", "high", 'NEAR_LIMIT_RATIO="high" is not a number'],
    ["NEAR_LIMIT_RATIO", "1.5", "NEAR_LIMIT_RATIO=1.5 is out of range [0, 1]"],
    ["STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT", "y", 'STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT="y" is not a boolean'],
    ["LOCAL_CACHE_SIZE_IN_BYTES", "-5", "LOCAL_CACHE_SIZE_IN_BYTES=-5 is out of range"],
    ["LOCAL_CACHE_SIZE_IN_BYTES", "1MB", 'LOCAL_CACHE_SIZE_IN_BYTES="1MB" is not an integer'],
    ["LIMIT_RESPONSE_HEADERS_ENABLED", "enabled", 'LIMIT_RESPONSE_HEADERS_ENABLED="enabled" is not a boolean'],
    ["LIMIT_LIMIT_HEADER", "Bad Header", 'LIMIT_LIMIT_HEADER="Bad Header" is not a valid HTTP header name'],
    ["LIMIT_REMAINING_HEADER", "X:Rem", 'LIMIT_REMAINING_HEADER="X:Rem" is not a valid HTTP header name'],
    ["LIMIT_RESET_HEADER", "X(Reset)", 'LIMIT_RESET_HEADER="X(Reset)" is not a valid HTTP header name'],
    ["RESPONSE_DYNAMIC_METADATA", "maybe", 'RESPONSE_DYNAMIC_METADATA="maybe" is not a boolean'],
    ["HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED", "1.0", 'HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED="1.0" is not'],
    ["MEMORY_MAX_KEYS", "0", "MEMORY_MAX_KEYS=0 is out of range"],
    ["MEMORY_MAX_KEYS", "lots", 'MEMORY_MAX_KEYS="lots" is not an integer'],
    ["SHUTDOWN_TIMEOUT", "5", 'SHUTDOWN_TIMEOUT="5" is not a duration'],
    ["SHUTDOWN_TIMEOUT", "2m", 'SHUTDOWN_TIMEOUT="2m" is too long'],
  ])("reports %s=%s", (name, value, message) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  it("reports every problem together", () => {
    const problems = problemsOf({
      PORT: "x",
      GRPC_PORT: "99999",
      LOG_LEVEL: "loud",
      BACKEND_TYPE: "memcache",
      NEAR_LIMIT_RATIO: "-1",
      SHADOW_MODE: "sometimes",
    });
    expect(problems).toHaveLength(6);
    expect(problems.map((p) => p.split("=")[0])).toEqual([
      "BACKEND_TYPE",
      "PORT",
      "GRPC_PORT",
      "LOG_LEVEL",
      "NEAR_LIMIT_RATIO",
      "SHADOW_MODE",
    ]);
  });

  it("includes Redis problems in the same report", () => {
    const problems = problemsOf({ BACKEND_TYPE: "redis", REDIS_SOCKET_TYPE: "carrier-pigeon", PORT: "no" });
    expect(problems.some((p) => p.startsWith("PORT="))).toBe(true);
    expect(problems.some((p) => p.startsWith("REDIS_SOCKET_TYPE="))).toBe(true);
  });

  it("throws a SettingsError whose message lists each problem on its own line", () => {
    expect(() => parseSettings({ PORT: "x", DEBUG_PORT: "y" }, CWD)).toThrow(
      /invalid settings:\n {2}- PORT="x" is not an integer\n {2}- DEBUG_PORT="y" is not an integer/,
    );
  });
});

describe("parseSettings() WORKERS", () => {
  it("defaults to the number of CPUs this process may use", () => {
    expect(parseSettings({}, CWD).workers).toBe(availableParallelism());
  });

  it.each([
    ["1", 1],
    ["4", 4],
    [" 16 ", 16],
    ["1024", 1024],
  ])("reads WORKERS=%j as %i", (value, workers) => {
    expect(parseSettings({ WORKERS: value }, CWD).workers).toBe(workers);
  });

  it.each([
    ["0", "WORKERS=0 is out of range [1, 1024]"],
    ["-2", "WORKERS=-2 is out of range [1, 1024]"],
    ["1025", "WORKERS=1025 is out of range [1, 1024]"],
    ["auto", 'WORKERS="auto" is not an integer'],
    ["2.5", 'WORKERS="2.5" is not an integer'],
  ])("reports WORKERS=%j", (value, message) => {
    expect(problemsOf({ WORKERS: value })).toEqual([message]);
  });
});
