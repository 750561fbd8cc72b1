/**
 * Sluice's settings: parsed once at startup from the environment, frozen, never re-read (unlike the reference, which
 * re-reads some variables on every config reload). Names and defaults follow envoyproxy/ratelimit's
 * `src/settings/settings.go` where the meaning matches; every problem is collected and reported together.
 */
import { availableParallelism } from "node:os";
import { type ObservabilitySettings, parseObservability } from "./observability-settings.js";
import type { Env } from "./problems.js";
import { Problems } from "./problems.js";
import { parseRedisSettings, type RedisSettings } from "./redis-settings.js";
import { type GrpcTlsSettings, parseGrpcTls } from "./tls-settings.js";
import { type ConfigSourceType, parseConfigTypes, parseXdsSettings, type XdsSettings } from "./xds-settings.js";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
export type LogFormat = "text" | "json";
export type BackendType = "memory" | "redis";

/** A TCP listener. Port 0 binds a free port (tests). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface GrpcListenSettings extends ListenAddress {
  /** GRPC_UDS: listen on this unix socket instead of host:port. */
  readonly uds: string | undefined;
  /** GRPC_MAX_CONNECTION_AGE: GOAWAY after this age (the gRPC server adds ±10 % jitter), so clients re-resolve DNS. */
  readonly maxConnectionAgeMs: number;
  /** GRPC_MAX_CONNECTION_AGE_GRACE: time in-flight calls get after that GOAWAY. */
  readonly maxConnectionAgeGraceMs: number;
  /** GRPC_SERVER_USE_TLS and its files; undefined serves cleartext HTTP/2. */
  readonly tls: GrpcTlsSettings | undefined;
}

/** Where rule files live: `root/subdirectory/appDirectory/*.yaml`, as the reference's goruntime loader. */
export interface RuntimeSettings {
  /** RUNTIME_ROOT (resolved against the working directory when relative). */
  readonly root: string;
  /** RUNTIME_SUBDIRECTORY. */
  readonly subdirectory: string;
  /** RUNTIME_APPDIRECTORY. */
  readonly appDirectory: string;
  /** RUNTIME_IGNOREDOTFILES: skip files and directories whose name starts with `.`. */
  readonly ignoreDotFiles: boolean;
  /** RUNTIME_WATCH_ROOT: also reload when the root (usually a symlink) is replaced. */
  readonly watchRoot: boolean;
  /** MERGE_DOMAIN_CONFIG. */
  readonly mergeDomainConfig: boolean;
}

/** Optional response headers (LIMIT_RESPONSE_HEADERS_ENABLED); undefined when disabled. */
export interface ResponseHeaderNames {
  readonly limitHeader: string;
  readonly remainingHeader: string;
  readonly resetHeader: string;
}

export interface Settings {
  readonly http: ListenAddress;
  readonly grpc: GrpcListenSettings;
  readonly debug: ListenAddress;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly runtime: RuntimeSettings;
  /** CONFIG_TYPE: the rule sources, FILE and/or GRPC_XDS_SOTW. */
  readonly configSources: readonly ConfigSourceType[];
  /** CONFIG_GRPC_XDS_* and XDS_CLIENT_*; parsed only when configSources includes GRPC_XDS_SOTW. */
  readonly xds: XdsSettings | undefined;
  /**
   * FORCE_START_WITHOUT_INITIAL_CONFIG: report healthy before the first xDS config arrives (calls are answered
   * UNAVAILABLE until then either way). Without it the service reports not ready until then.
   */
  readonly forceStartWithoutInitialConfig: boolean;
  readonly backend: BackendType;
  /** Parsed only when `backend === "redis"`. */
  readonly redis: RedisSettings | undefined;
  readonly cacheKeyPrefix: string;
  readonly nearLimitRatio: number;
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly stopCacheKeyIncrementWhenOverlimit: boolean;
  /** LOCAL_CACHE_SIZE_IN_BYTES; 0 disables the local over-limit cache. */
  readonly localCacheSizeBytes: number;
  readonly responseHeaders: ResponseHeaderNames | undefined;
  readonly responseDynamicMetadata: boolean;
  readonly healthyWithAtLeastOneConfigLoaded: boolean;
  /** MEMORY_MAX_KEYS (Sluice's own): bound on live counters in the memory store. */
  readonly memoryMaxKeys: number;
  /** SHUTDOWN_TIMEOUT (Sluice's own): how long in-flight calls may finish after SIGTERM before connections are cut. */
  readonly shutdownTimeoutMs: number;
  /**
   * WORKERS (Sluice's own): processes serving the same ports (node:cluster) with the Redis backend; default the
   * number of CPUs this process may use. The memory backend always runs one process (see cluster/role.ts).
   */
  readonly workers: number;
  /** Whether WORKERS was set (the memory backend's "WORKERS ignored" note is for users who asked for workers). */
  readonly workersSet: boolean;
  /** Stats, Prometheus, statsd and tracing. */
  readonly observability: ObservabilitySettings;
  /**
   * MAX_CONNECTIONS: connections each listener (gRPC, HTTP, debug) of each process holds at once; more are closed
   * on accept. Each costs a file descriptor and some memory; a fleet of Envoys needs one per Envoy worker thread.
   */
  readonly maxConnections: number;
  /** Reference variables that are set but not implemented by Sluice (logged at startup, never fatal). */
  readonly ignoredEnv: readonly string[];
}

/**
 * Reference variables Sluice accepts and ignores (memcache, DogStatsD mogrifiers). Setting them never fails startup;
 * main logs the ones that are set so a migration does not silently lose a feature.
 */
export const IGNORED_REFERENCE_ENV: readonly string[] = Object.freeze([
  "USE_DOG_STATSD_MOGRIFIERS",
  "MEMCACHE_HOST_PORT",
  "MEMCACHE_MAX_IDLE_CONNS",
  "MEMCACHE_SRV",
  "MEMCACHE_SRV_REFRESH",
  "MEMCACHE_TLS",
  "MEMCACHE_TLS_CLIENT_CERT",
  "MEMCACHE_TLS_CLIENT_KEY",
  "MEMCACHE_TLS_CACERT",
  "MEMCACHE_TLS_SKIP_HOSTNAME_VERIFICATION",
]);

const PORT_RANGE = { min: 0, max: 65_535 } as const;
/** More processes than this is a typo, not a machine (each worker holds its own Redis connections). */
const MAX_WORKERS = 1024;
/** Node timers overflow above 2^31-1 ms (they would fire at once), so connection ages are capped there. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** logrus level names (case-insensitive, as `logrus.ParseLevel`) → pino levels. */
const LOG_LEVELS: Readonly<Record<string, LogLevel>> = {
  panic: "fatal",
  fatal: "fatal",
  error: "error",
  warn: "warn",
  warning: "warn",
  info: "info",
  debug: "debug",
  trace: "trace",
};

/**
 * Parses the environment into frozen Settings. The only reader of the environment; throws SettingsError listing
 * every problem at once. `cwd` is where rule files load from when RUNTIME_ROOT is unset (the quick start's ./config/).
 */
export function parseSettings(env: Env, cwd: string = process.cwd()): Readonly<Settings> {
  const p = new Problems();
  const backend = parseBackend(env, p);
  const configSources = parseConfigTypes(env, p);
  const settings: Settings = {
    http: { host: host(env, p, "HOST"), port: p.int(env, "PORT", 8080, PORT_RANGE) },
    grpc: parseGrpc(env, p),
    debug: { host: host(env, p, "DEBUG_HOST"), port: p.int(env, "DEBUG_PORT", 6070, PORT_RANGE) },
    logLevel: parseLogLevel(env, p),
    logFormat: p.oneOf<LogFormat>(env, "LOG_FORMAT", "text", ["text", "json"]),
    runtime: parseRuntime(env, p, cwd),
    configSources,
    xds: configSources.includes("GRPC_XDS_SOTW") ? parseXdsSettings(env, p) : undefined,
    forceStartWithoutInitialConfig: p.bool(env, "FORCE_START_WITHOUT_INITIAL_CONFIG", false),
    backend,
    redis: backend === "redis" ? parseRedisSettings(env, p) : undefined,
    cacheKeyPrefix: env["CACHE_KEY_PREFIX"] ?? "",
    nearLimitRatio: p.float(env, "NEAR_LIMIT_RATIO", 0.8, { min: 0, max: 1 }),
    shadowMode: p.bool(env, "SHADOW_MODE", false),
    quotaMode: p.bool(env, "QUOTA_MODE", false),
    stopCacheKeyIncrementWhenOverlimit: p.bool(env, "STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT", false),
    localCacheSizeBytes: p.int(env, "LOCAL_CACHE_SIZE_IN_BYTES", 0, { min: 0, max: Number.MAX_SAFE_INTEGER }),
    responseHeaders: parseResponseHeaders(env, p),
    responseDynamicMetadata: p.bool(env, "RESPONSE_DYNAMIC_METADATA", false),
    healthyWithAtLeastOneConfigLoaded: p.bool(env, "HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED", false),
    memoryMaxKeys: p.int(env, "MEMORY_MAX_KEYS", 1_000_000, { min: 1, max: 1_000_000_000 }),
    shutdownTimeoutMs: boundedDuration(env, p, "SHUTDOWN_TIMEOUT", 5_000, 60_000),
    workers: p.int(env, "WORKERS", availableParallelism(), { min: 1, max: MAX_WORKERS }),
    workersSet: p.raw(env, "WORKERS") !== undefined,
    observability: parseObservability(env, p),
    maxConnections: p.int(env, "MAX_CONNECTIONS", 10_000, { min: 1, max: 10_000_000 }),
    ignoredEnv: Object.freeze(IGNORED_REFERENCE_ENV.filter((name) => p.raw(env, name) !== undefined)),
  };
  p.throwIfAny();
  return deepFreeze(settings);
}

/** parseSettings over this process's environment: what main calls. */
export function loadSettings(): Readonly<Settings> {
  return parseSettings(process.env);
}

function host(env: Env, p: Problems, name: string): string {
  return p.str(env, name, "0.0.0.0");
}

function parseGrpc(env: Env, p: Problems): GrpcListenSettings {
  return {
    host: host(env, p, "GRPC_HOST"),
    port: p.int(env, "GRPC_PORT", 8081, PORT_RANGE),
    uds: p.raw(env, "GRPC_UDS"),
    maxConnectionAgeMs: boundedDuration(env, p, "GRPC_MAX_CONNECTION_AGE", 24 * 3_600_000, MAX_TIMER_MS),
    maxConnectionAgeGraceMs: boundedDuration(env, p, "GRPC_MAX_CONNECTION_AGE_GRACE", 3_600_000, MAX_TIMER_MS),
    tls: parseGrpcTls(env, p),
  };
}

function boundedDuration(env: Env, p: Problems, name: string, fallbackMs: number, maxMs: number): number {
  const ms = p.durationMs(env, name, fallbackMs);
  if (ms > maxMs) {
    p.add(`${name}=${JSON.stringify(p.raw(env, name))} is too long (at most ${maxMs} ms)`);
    return fallbackMs;
  }
  return ms;
}

function parseLogLevel(env: Env, p: Problems): LogLevel {
  const v = p.raw(env, "LOG_LEVEL");
  if (v === undefined) return "warn";
  const level = LOG_LEVELS[v.toLowerCase()];
  if (level === undefined) {
    p.add(`LOG_LEVEL=${JSON.stringify(v)} is not one of trace|debug|info|warn|error|fatal|panic`);
    return "warn";
  }
  return level;
}

/** BACKEND_TYPE: memory | redis. Unset means redis when REDIS_URL is set, else memory (Sluice's quick start). */
function parseBackend(env: Env, p: Problems): BackendType {
  const v = p.raw(env, "BACKEND_TYPE")?.toLowerCase();
  if (v === undefined) return p.raw(env, "REDIS_URL") === undefined ? "memory" : "redis";
  if (v === "memory" || v === "redis") return v;
  if (v === "memcache") {
    p.add('BACKEND_TYPE="memcache" is not supported by Sluice (use memory or redis)');
  } else {
    p.add(`BACKEND_TYPE=${JSON.stringify(v)} is not one of memory|redis`);
  }
  return "memory";
}

function parseRuntime(env: Env, p: Problems, cwd: string): RuntimeSettings {
  return {
    root: p.raw(env, "RUNTIME_ROOT") ?? cwd,
    subdirectory: p.str(env, "RUNTIME_SUBDIRECTORY", ""),
    appDirectory: p.str(env, "RUNTIME_APPDIRECTORY", "config"),
    ignoreDotFiles: p.bool(env, "RUNTIME_IGNOREDOTFILES", false),
    watchRoot: p.bool(env, "RUNTIME_WATCH_ROOT", true),
    mergeDomainConfig: p.bool(env, "MERGE_DOMAIN_CONFIG", false),
  };
}

function parseResponseHeaders(env: Env, p: Problems): ResponseHeaderNames | undefined {
  const enabled = p.bool(env, "LIMIT_RESPONSE_HEADERS_ENABLED", false);
  const names: ResponseHeaderNames = {
    limitHeader: headerName(env, p, "LIMIT_LIMIT_HEADER", "RateLimit-Limit"),
    remainingHeader: headerName(env, p, "LIMIT_REMAINING_HEADER", "RateLimit-Remaining"),
    resetHeader: headerName(env, p, "LIMIT_RESET_HEADER", "RateLimit-Reset"),
  };
  return enabled ? names : undefined;
}

/** An HTTP token (RFC 9110 §5.6.2): Envoy would reject anything else when adding the header. */
function headerName(env: Env, p: Problems, name: string, fallback: string): string {
  const v = p.str(env, name, fallback);
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v)) {
    p.add(`${name}=${JSON.stringify(v)} is not a valid HTTP header name`);
    return fallback;
  }
  return v;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
