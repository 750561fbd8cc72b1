/**
 * Redis settings: the REDIS_* variables of envoyproxy/ratelimit (same names, same URL formats), plus Sluice's own
 * failure policy. Parsed once; every problem goes to `p` so startup lists them all. Credentials are kept apart from
 * addresses so that `target` (what logs show) can never contain a password.
 */
import type { Env, Problems } from "./problems.js";
import {
  describeTarget,
  parseCredentials,
  parseUrl,
  type RedisAddress,
  type RedisCredentials,
  type RedisTopology,
} from "./redis-url.js";

export {
  parseCredentials,
  type RedisAddress,
  type RedisCredentials,
  type RedisTopology,
  redactUrl,
} from "./redis-url.js";

/**
 * What the service answers while Redis is unreachable (BACKEND_FAILURE_POLICY, Sluice's own):
 * - `unavailable` (default): the call fails with gRPC UNAVAILABLE and Envoy's `failure_mode_deny` decides;
 * - `allow`: every descriptor is answered OK without counting;
 * - `deny`: every descriptor is answered OVER_LIMIT;
 * - `local`: each instance counts in its own memory until Redis is back (limits become per instance).
 */
export type FailurePolicy = "unavailable" | "allow" | "deny" | "local";

export const FAILURE_POLICIES: readonly FailurePolicy[] = Object.freeze(["unavailable", "allow", "deny", "local"]);

/** REDIS_TLS_* (shared by the main and the per-second Redis, as in the reference). Paths, read at connect time. */
export interface RedisTlsSettings {
  readonly caCertFile: string | undefined;
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  /** Verify the chain against the CA but not the host name (reference REDIS_TLS_SKIP_HOSTNAME_VERIFICATION). */
  readonly skipHostnameVerification: boolean;
}

/** One Redis deployment: the main one (REDIS_*) or the per-second one (REDIS_PERSECOND_*). */
export interface RedisEndpointSettings {
  /** "redis" or "redis-persecond": names this endpoint in logs. */
  readonly name: string;
  readonly topology: RedisTopology;
  /** single: the server; sentinel: the sentinels; cluster: the seed nodes. */
  readonly addresses: readonly RedisAddress[];
  /** Sentinel master group name (first element of the sentinel REDIS_URL). */
  readonly sentinelMasterName: string | undefined;
  readonly auth: RedisCredentials | undefined;
  readonly sentinelAuth: RedisCredentials | undefined;
  /** undefined: plain TCP. */
  readonly tls: RedisTlsSettings | undefined;
  /** Database index from a `redis://host:port/N` URL (single and sentinel only). */
  readonly db: number;
  /** REDIS_POOL_SIZE: validated, not used (one pipelined connection per Redis node; see the README). */
  readonly poolSize: number;
  /** REDIS_TIMEOUT: bound on every Redis round trip, in ms (see DEFAULT_REDIS_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Bound on establishing a connection (TCP + TLS), in ms: max(REDIS_TIMEOUT, 1 s). */
  readonly connectTimeoutMs: number;
  /** Where this endpoint points, for logs: addresses only, never credentials. */
  readonly target: string;
}

export interface RedisSettings {
  readonly main: RedisEndpointSettings;
  /** REDIS_PERSECOND=true: SECOND-unit counters go to this Redis instead. */
  readonly perSecond: RedisEndpointSettings | undefined;
  /** EXPIRATION_JITTER_MAX_SECONDS: a random [0, max) seconds added to every key's TTL. */
  readonly expirationJitterMaxSeconds: number;
  /** REDIS_HEALTH_CHECK_ACTIVE_CONNECTION: /healthcheck fails while a Redis has no ready connection. */
  readonly healthCheckActiveConnection: boolean;
  readonly failurePolicy: FailurePolicy;
  /** BACKEND_FAILURE_LOCAL_MAX_KEYS: bound on the counters the `local` policy keeps in memory. */
  readonly failureLocalMaxKeys: number;
}

/**
 * Default REDIS_TIMEOUT: 20 ms, Envoy's default rate-limit call timeout.
 * - Past Envoy's deadline a reply is useless: Envoy has already applied `failure_mode_deny`, exactly as it would
 *   for Sluice's UNAVAILABLE. Before it, every reply is still worth waiting for. A shorter timeout therefore only
 *   turns replies Envoy could still use into errors. 10 ms (the earlier default) did this at saturation: Redis on a
 *   busy host sometimes answers nothing for 10-22 ms, and the bench saw 0.1-0.3 % UNAVAILABLE with 10 ms and none
 *   with 20 ms.
 * - The store does not count its own lag against Redis (batch-timer.ts): the timer is checked only after the event
 *   loop has read the sockets, and a check that runs late (a GC pause, a long loop turn) gets one more period. A
 *   mark-compact of 10-20 ms in the middle of a call therefore does not fail it.
 * - A hung Redis still fails calls within about 20 ms, and later calls fail at once until it answers again.
 * The reference's 10 s default would park every call far beyond Envoy's deadline.
 */
export const DEFAULT_REDIS_TIMEOUT_MS = 20;
const MIN_CONNECT_TIMEOUT_MS = 1_000;
const MAX_TIMEOUT_MS = 60_000;

/** Reference variables accepted for compatibility and validated, but with no effect (see the README). */
const NO_EFFECT_DURATIONS = [
  "REDIS_PIPELINE_WINDOW",
  "REDIS_PERSECOND_PIPELINE_WINDOW",
  "REDIS_STARTUP_INITIAL_INTERVAL",
  "REDIS_STARTUP_MAX_INTERVAL",
  "REDIS_STARTUP_MAX_ELAPSED_TIME",
] as const;
const NO_EFFECT_COUNTS = [
  "REDIS_PIPELINE_LIMIT",
  "REDIS_PERSECOND_PIPELINE_LIMIT",
  "REDIS_CLUSTER_PIPELINE_PARALLELISM",
  "REDIS_PERSECOND_CLUSTER_PIPELINE_PARALLELISM",
] as const;

/** Parses REDIS_* (and EXPIRATION_JITTER_MAX_SECONDS, BACKEND_FAILURE_*) into typed settings; problems go to `p`. */
export function parseRedisSettings(env: Env, p: Problems): RedisSettings {
  const tlsFiles = parseTlsFiles(env, p);
  const main = parseEndpoint(env, p, "REDIS", "redis", tlsFiles, undefined);
  const perSecond = p.bool(env, "REDIS_PERSECOND", false)
    ? parseEndpoint(env, p, "REDIS_PERSECOND", "redis-persecond", tlsFiles, main.timeoutMs)
    : undefined;
  for (const name of NO_EFFECT_DURATIONS) p.durationMs(env, name, 0);
  for (const name of NO_EFFECT_COUNTS) p.int(env, name, 0, { min: 0 });
  for (const name of ["REDIS_POOL_ON_EMPTY_BEHAVIOR", "REDIS_PERSECOND_POOL_ON_EMPTY_BEHAVIOR"]) {
    p.oneOf(env, name, "WAIT", ["WAIT", "CREATE", "ERROR"]);
  }
  return {
    main,
    perSecond,
    expirationJitterMaxSeconds: p.int(env, "EXPIRATION_JITTER_MAX_SECONDS", 300, { min: 0, max: 31_536_000 }),
    healthCheckActiveConnection: p.bool(env, "REDIS_HEALTH_CHECK_ACTIVE_CONNECTION", false),
    failurePolicy: p.oneOf(env, "BACKEND_FAILURE_POLICY", "unavailable", FAILURE_POLICIES),
    failureLocalMaxKeys: p.int(env, "BACKEND_FAILURE_LOCAL_MAX_KEYS", 100_000, { min: 1, max: 100_000_000 }),
  };
}

interface TlsFiles {
  readonly caCertFile: string | undefined;
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly skipHostnameVerification: boolean;
}

function parseTlsFiles(env: Env, p: Problems): TlsFiles {
  const files: TlsFiles = {
    caCertFile: p.raw(env, "REDIS_TLS_CACERT"),
    clientCertFile: p.raw(env, "REDIS_TLS_CLIENT_CERT"),
    clientKeyFile: p.raw(env, "REDIS_TLS_CLIENT_KEY"),
    skipHostnameVerification: p.bool(env, "REDIS_TLS_SKIP_HOSTNAME_VERIFICATION", false),
  };
  if ((files.clientCertFile === undefined) !== (files.clientKeyFile === undefined)) {
    p.add("REDIS_TLS_CLIENT_CERT and REDIS_TLS_CLIENT_KEY must be set together");
  }
  return files;
}

/** `prefix` is REDIS or REDIS_PERSECOND; the reference's defaults target a local twemproxy unix socket. */
function parseEndpoint(
  env: Env,
  p: Problems,
  prefix: string,
  name: string,
  tlsFiles: TlsFiles,
  fallbackTimeoutMs: number | undefined,
): RedisEndpointSettings {
  const topology = p.oneOf<RedisTopology>(env, `${prefix}_TYPE`, "single", ["single", "sentinel", "cluster"]);
  const defaultUrl =
    prefix === "REDIS" ? "/var/run/nutcracker/ratelimit.sock" : "/var/run/nutcracker/ratelimitpersecond.sock";
  const url = p.str(env, `${prefix}_URL`, defaultUrl);
  const socketType = p.raw(env, `${prefix}_SOCKET_TYPE`);
  const timeoutMs = parseTimeout(env, p, `${prefix}_TIMEOUT`, fallbackTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS);
  const parsed = parseUrl(p, `${prefix}_URL`, url, topology, socketTypeOf(p, `${prefix}_SOCKET_TYPE`, socketType));
  let auth = parseCredentials(p.raw(env, `${prefix}_AUTH`));
  if (parsed.auth !== undefined) {
    if (auth !== undefined) p.add(`set the Redis credentials in ${prefix}_AUTH or in ${prefix}_URL, not both`);
    auth = parsed.auth;
  }
  const tlsFlag = p.bool(env, `${prefix}_TLS`, false);
  return {
    name,
    topology,
    addresses: parsed.addresses,
    sentinelMasterName: parsed.masterName,
    auth,
    sentinelAuth: parseCredentials(p.raw(env, `${prefix}_SENTINEL_AUTH`)),
    tls: tlsFlag || parsed.tls ? tlsFiles : undefined,
    db: parsed.db,
    poolSize: p.int(env, `${prefix}_POOL_SIZE`, 10, { min: 1, max: 100_000 }),
    timeoutMs,
    connectTimeoutMs: Math.max(timeoutMs, MIN_CONNECT_TIMEOUT_MS),
    target: describeTarget(topology, parsed, tlsFlag || parsed.tls),
  };
}

function parseTimeout(env: Env, p: Problems, name: string, fallbackMs: number): number {
  const ms = p.durationMs(env, name, fallbackMs);
  if (ms <= 0 || ms > MAX_TIMEOUT_MS) {
    p.add(`${name}=${JSON.stringify(p.raw(env, name))} must be > 0 and at most 60s (Sluice always bounds Redis calls)`);
    return fallbackMs;
  }
  return ms;
}

/** REDIS_SOCKET_TYPE tcp|unix; undefined (unset) lets the URL decide: a path means unix, anything else tcp. */
function socketTypeOf(p: Problems, name: string, raw: string | undefined): "tcp" | "unix" | undefined {
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase();
  if (v === "tcp" || v === "unix") return v;
  p.add(`${name}=${JSON.stringify(raw)} is not one of tcp|unix`);
  return undefined;
}
