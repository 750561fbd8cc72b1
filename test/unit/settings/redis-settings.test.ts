import { describe, expect, it } from "vitest";
import { Problems } from "../../../src/settings/problems.js";
import {
  DEFAULT_REDIS_TIMEOUT_MS,
  parseCredentials,
  parseRedisSettings,
  type RedisSettings,
  redactUrl,
} from "../../../src/settings/redis-settings.js";

function parse(env: Record<string, string>): { settings: RedisSettings; problems: string[] } {
  const p = new Problems();
  const settings = parseRedisSettings(env, p);
  const problems: string[] = [];
  try {
    p.throwIfAny();
  } catch (err) {
    problems.push(...(err as { problems: string[] }).problems);
  }
  return { settings, problems };
}

function ok(env: Record<string, string>): RedisSettings {
  const { settings, problems } = parse(env);
  expect(problems).toEqual([]);
  return settings;
}

describe("parseRedisSettings()", () => {
  it("uses the reference's defaults (a twemproxy unix socket) and Sluice's bounded timeout", () => {
    const s = ok({});
    expect(s.main).toMatchObject({
      name: "redis",
      topology: "single",
      addresses: [{ kind: "unix", path: "/var/run/nutcracker/ratelimit.sock" }],
      auth: undefined,
      sentinelAuth: undefined,
      tls: undefined,
      db: 0,
      poolSize: 10,
      timeoutMs: DEFAULT_REDIS_TIMEOUT_MS,
      connectTimeoutMs: 1_000,
      target: "unix:/var/run/nutcracker/ratelimit.sock",
    });
    expect(DEFAULT_REDIS_TIMEOUT_MS).toBe(20);
    expect(s.perSecond).toBeUndefined();
    expect(s.expirationJitterMaxSeconds).toBe(300);
    expect(s.healthCheckActiveConnection).toBe(false);
    expect(s.failurePolicy).toBe("unavailable");
    expect(s.failureLocalMaxKeys).toBe(100_000);
  });

  it.each([
    [{ REDIS_URL: "redis.internal:6379" }, { kind: "tcp", host: "redis.internal", port: 6379 }],
    [
      { REDIS_SOCKET_TYPE: "tcp", REDIS_URL: "10.0.0.1:7000" },
      { kind: "tcp", host: "10.0.0.1", port: 7000 },
    ],
    [
      { REDIS_SOCKET_TYPE: "TCP", REDIS_URL: "[::1]:6380" },
      { kind: "tcp", host: "::1", port: 6380 },
    ],
    [{ REDIS_URL: "/run/redis.sock" }, { kind: "unix", path: "/run/redis.sock" }],
    [
      { REDIS_SOCKET_TYPE: "unix", REDIS_URL: "/run/redis.sock" },
      { kind: "unix", path: "/run/redis.sock" },
    ],
    [{ REDIS_URL: "unix:///run/redis.sock" }, { kind: "unix", path: "/run/redis.sock" }],
    [{ REDIS_URL: "redis://cache:6390" }, { kind: "tcp", host: "cache", port: 6390 }],
    [{ REDIS_URL: "redis://cache" }, { kind: "tcp", host: "cache", port: 6379 }],
  ])("reads the single address from %j", (env, address) => {
    expect(ok(env).main.addresses).toEqual([address]);
  });

  it("takes credentials and the database from a redis:// URL, and never shows the password", () => {
    const s = ok({ REDIS_URL: "redis://app:p%40ss@cache:6379/3" });
    expect(s.main.auth).toEqual({ username: "app", password: "p@ss" });
    expect(s.main.db).toBe(3);
    expect(s.main.target).toBe("redis://cache:6379/3");
    expect(s.main.tls).toBeUndefined();
  });

  it("turns TLS on for rediss:// and for REDIS_TLS=true, with the shared REDIS_TLS_* files", () => {
    const files = {
      REDIS_TLS_CACERT: "/ca.pem",
      REDIS_TLS_CLIENT_CERT: "/c.pem",
      REDIS_TLS_CLIENT_KEY: "/k.pem",
      REDIS_TLS_SKIP_HOSTNAME_VERIFICATION: "true",
    };
    const tls = {
      caCertFile: "/ca.pem",
      clientCertFile: "/c.pem",
      clientKeyFile: "/k.pem",
      skipHostnameVerification: true,
    };
    const byUrl = ok({ REDIS_URL: "rediss://cache:6380", ...files });
    expect(byUrl.main.tls).toEqual(tls);
    expect(byUrl.main.target).toBe("rediss://cache:6380");
    expect(ok({ REDIS_URL: "cache:6380", REDIS_TLS: "true", ...files }).main.tls).toEqual(tls);
    expect(ok({ REDIS_URL: "cache:6380", ...files }).main.tls).toBeUndefined();
  });

  it.each([
    ["pass", { username: undefined, password: "pass" }],
    ["user:pass", { username: "user", password: "pass" }],
    ["user:pa:ss", { username: "user", password: "pa:ss" }],
    [":pass", { username: undefined, password: "pass" }],
  ])("splits REDIS_AUTH=%j at the first colon as the reference", (auth, expected) => {
    expect(parseCredentials(auth)).toEqual(expected);
    expect(ok({ REDIS_URL: "h:1", REDIS_AUTH: auth }).main.auth).toEqual(expected);
  });

  it("keeps passwords out of a settings object serialised whole (e.g. logged by mistake)", () => {
    const s = ok({ REDIS_URL: "redis://app:url-secret@h:1", REDIS_SENTINEL_AUTH: "s-secret" });
    const text = JSON.stringify(s);
    expect(text).not.toContain("url-secret");
    expect(text).not.toContain("s-secret");
    expect(s.main.auth?.password).toBe("url-secret");
  });

  it("reads the sentinel format <master>,<sentinel>,... with REDIS_SENTINEL_AUTH (REDIS_TYPE is case-insensitive)", () => {
    const s = ok({
      REDIS_TYPE: "SENTINEL",
      REDIS_URL: "mymaster,10.0.0.1:26379, 10.0.0.2:26380",
      REDIS_AUTH: "m",
      REDIS_SENTINEL_AUTH: "admin:s",
    });
    expect(s.main).toMatchObject({
      topology: "sentinel",
      sentinelMasterName: "mymaster",
      addresses: [
        { kind: "tcp", host: "10.0.0.1", port: 26379 },
        { kind: "tcp", host: "10.0.0.2", port: 26380 },
      ],
      auth: { username: undefined, password: "m" },
      sentinelAuth: { username: "admin", password: "s" },
      target: "sentinel mymaster@10.0.0.1:26379,10.0.0.2:26380",
    });
  });

  it("reads the cluster format as a comma list of seed nodes", () => {
    const s = ok({ REDIS_TYPE: "Cluster", REDIS_URL: "rediss://n1:7000,rediss://n2:7001" });
    expect(s.main.topology).toBe("cluster");
    expect(s.main.addresses).toEqual([
      { kind: "tcp", host: "n1", port: 7000 },
      { kind: "tcp", host: "n2", port: 7001 },
    ]);
    expect(s.main.tls).toBeDefined();
    expect(s.main.target).toBe("cluster n1:7000,n2:7001 (tls)");
  });

  it.each([
    ["250ms", 250, 1_000],
    ["0.5s", 500, 1_000],
    ["5s", 5_000, 5_000],
  ])("bounds calls by REDIS_TIMEOUT=%s and connects within max(timeout, 1 s)", (raw, timeoutMs, connectMs) => {
    expect(ok({ REDIS_URL: "h:1", REDIS_TIMEOUT: raw }).main).toMatchObject({ timeoutMs, connectTimeoutMs: connectMs });
  });

  it("parses the REDIS_PERSECOND_* family, inheriting REDIS_TIMEOUT when its own is unset", () => {
    const s = ok({
      REDIS_URL: "main:6379",
      REDIS_TIMEOUT: "40ms",
      REDIS_PERSECOND: "true",
      REDIS_PERSECOND_TYPE: "cluster",
      REDIS_PERSECOND_URL: "s1:7000,s2:7000",
      REDIS_PERSECOND_AUTH: "pw",
      REDIS_PERSECOND_TLS: "true",
      REDIS_PERSECOND_POOL_SIZE: "4",
      REDIS_TLS_CACERT: "/ca.pem",
    });
    expect(s.main.tls).toBeUndefined();
    expect(s.perSecond).toMatchObject({
      name: "redis-persecond",
      topology: "cluster",
      auth: { username: undefined, password: "pw" },
      tls: { caCertFile: "/ca.pem" },
      poolSize: 4,
      timeoutMs: 40,
    });
    expect(
      ok({ REDIS_URL: "m:1", REDIS_PERSECOND: "1", REDIS_PERSECOND_URL: "/s.sock", REDIS_PERSECOND_TIMEOUT: "7ms" })
        .perSecond,
    ).toMatchObject({ addresses: [{ kind: "unix", path: "/s.sock" }], timeoutMs: 7 });
  });

  it("reads the failure policy, the jitter and the health check", () => {
    const s = ok({
      BACKEND_FAILURE_POLICY: "LOCAL",
      BACKEND_FAILURE_LOCAL_MAX_KEYS: "5000",
      EXPIRATION_JITTER_MAX_SECONDS: "0",
      REDIS_HEALTH_CHECK_ACTIVE_CONNECTION: "true",
    });
    expect(s).toMatchObject({
      failurePolicy: "local",
      failureLocalMaxKeys: 5000,
      expirationJitterMaxSeconds: 0,
      healthCheckActiveConnection: true,
    });
  });

  it("accepts the reference's pipelining, pool and startup variables that have no effect in Sluice", () => {
    ok({
      REDIS_PIPELINE_WINDOW: "150us",
      REDIS_PIPELINE_LIMIT: "8",
      REDIS_CLUSTER_PIPELINE_PARALLELISM: "0",
      REDIS_POOL_ON_EMPTY_BEHAVIOR: "wait",
      REDIS_STARTUP_MAX_INTERVAL: "30s",
    });
  });

  it.each([
    [{ REDIS_TYPE: "ring" }, /REDIS_TYPE="ring" is not one of single\|sentinel\|cluster/],
    [{ REDIS_SOCKET_TYPE: "udp" }, /REDIS_SOCKET_TYPE="udp" is not one of tcp\|unix/],
    [{ REDIS_URL: "localhost" }, /REDIS_URL: "localhost" is not host:port/],
    [{ REDIS_SOCKET_TYPE: "unix", REDIS_URL: "cache:6379" }, /is not a unix socket path/],
    [{ REDIS_SOCKET_TYPE: "tcp", REDIS_URL: "/run/redis.sock" }, /is a socket path but the socket type is tcp/],
    [{ REDIS_URL: "redis://h:1?db=2" }, /is not host:port or a redis:\/\/ URL/],
    [{ REDIS_URL: "redis://h:1/abc" }, /invalid database number/],
    [{ REDIS_URL: "redis://user@h:1" }, /a URL user needs a password/],
    [{ REDIS_URL: "redis://u:p@h:1", REDIS_AUTH: "x" }, /in REDIS_AUTH or in REDIS_URL, not both/],
    [{ REDIS_TYPE: "sentinel", REDIS_URL: "mymaster" }, /sentinel format is <master name>,<sentinel host:port>/],
    [{ REDIS_TYPE: "sentinel", REDIS_URL: ",h:1" }, /sentinel format/],
    [
      { REDIS_TYPE: "cluster", REDIS_URL: "redis://u:p@h:1" },
      /put credentials in REDIS_AUTH, not in a cluster address list/,
    ],
    [{ REDIS_TYPE: "cluster", REDIS_URL: "redis://h:1/2" }, /a cluster address cannot select a database/],
    [{ REDIS_TYPE: "cluster", REDIS_URL: "redis://h:1,rediss://h:2" }, /mixes redis:\/\/ and rediss:\/\//],
    [{ REDIS_TIMEOUT: "0" }, /REDIS_TIMEOUT="0" must be > 0/],
    [{ REDIS_TIMEOUT: "2m" }, /REDIS_TIMEOUT="2m" must be > 0 and at most 60s/],
    [{ REDIS_TIMEOUT: "fast" }, /REDIS_TIMEOUT="fast" is not a duration/],
    [{ REDIS_POOL_SIZE: "0" }, /REDIS_POOL_SIZE=0 is out of range/],
    [{ REDIS_POOL_SIZE: "ten" }, /REDIS_POOL_SIZE="ten" is not an integer/],
    [{ REDIS_TLS: "yes" }, /REDIS_TLS="yes" is not a boolean/],
    [{ REDIS_TLS_CLIENT_CERT: "/c.pem" }, /REDIS_TLS_CLIENT_CERT and REDIS_TLS_CLIENT_KEY must be set together/],
    [{ EXPIRATION_JITTER_MAX_SECONDS: "-1" }, /EXPIRATION_JITTER_MAX_SECONDS=-1 is out of range/],
    [{ BACKEND_FAILURE_POLICY: "open" }, /BACKEND_FAILURE_POLICY="open" is not one of unavailable\|allow\|deny\|local/],
    [{ BACKEND_FAILURE_LOCAL_MAX_KEYS: "0" }, /BACKEND_FAILURE_LOCAL_MAX_KEYS=0 is out of range/],
    [{ REDIS_HEALTH_CHECK_ACTIVE_CONNECTION: "maybe" }, /REDIS_HEALTH_CHECK_ACTIVE_CONNECTION="maybe"/],
    [{ REDIS_PIPELINE_WINDOW: "soon" }, /REDIS_PIPELINE_WINDOW="soon" is not a duration/],
    [
      { REDIS_POOL_ON_EMPTY_BEHAVIOR: "PANIC" },
      /REDIS_POOL_ON_EMPTY_BEHAVIOR="PANIC" is not one of WAIT\|CREATE\|ERROR/,
    ],
    [{ REDIS_PERSECOND: "true", REDIS_PERSECOND_TYPE: "ring" }, /REDIS_PERSECOND_TYPE="ring"/],
    [{ REDIS_PERSECOND: "true", REDIS_PERSECOND_URL: "nohost" }, /REDIS_PERSECOND_URL: "nohost" is not host:port/],
  ])("reports %j", (env, message) => {
    const { problems } = parse(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("reports every problem at once", () => {
    const { problems } = parse({ REDIS_TYPE: "ring", REDIS_TIMEOUT: "x", BACKEND_FAILURE_POLICY: "open" });
    expect(problems).toHaveLength(3);
  });

  it("never repeats a password from a malformed URL in a problem", () => {
    const { problems } = parse({ REDIS_URL: "redis://app:hunter2@:6379" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain("hunter2");
  });
});

describe("redactUrl()", () => {
  it.each([
    ["redis://u:secret@h:1", "redis://***@h:1"],
    ["rediss://:secret@h:1/2", "rediss://***@h:1/2"],
    ["h:1", "h:1"],
  ])("masks the credentials of %s", (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
