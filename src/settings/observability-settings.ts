/**
 * Stats, Prometheus, statsd and tracing settings, with the reference's names and defaults (settings.go) except where
 * noted. Parsed once with the other settings; the mapper file is read later, at startup (telemetry/statsd-mapper.ts).
 */
import type { Env, Problems } from "./problems.js";

/** A TCP listener (as settings.ts's ListenAddress; repeated to keep the import one-way). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface PrometheusSettings {
  /** PROMETHEUS_ADDR (`:9090`, `host:port`); an empty host listens on every interface, as Go's `:port`. */
  readonly listen: ListenAddress;
  /** PROMETHEUS_PATH. */
  readonly path: string;
  /** PROMETHEUS_MAPPER_YAML: a statsd_exporter mapping file replacing the default mapping; undefined = default. */
  readonly mapperFile: string | undefined;
  /** PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS: the reference's legacy unit for `..._response_time_seconds`. */
  readonly responseTimeAsMilliseconds: boolean;
}

export interface StatsdSettings {
  readonly host: string;
  readonly port: number;
  /** STATS_FLUSH_INTERVAL. */
  readonly flushIntervalMs: number;
  /** USE_DOG_STATSD: send EXTRA_TAGS as DogStatsD tags (`|#k:v`). */
  readonly dogStatsd: boolean;
}

export type TracingProtocol = "http" | "grpc";

export interface TracingSettings {
  readonly serviceName: string;
  readonly serviceNamespace: string | undefined;
  readonly serviceInstanceId: string | undefined;
  readonly protocol: TracingProtocol;
  /** TRACING_SAMPLING_RATE in [0, 1]: the share of root traces sampled (a sampled caller's trace is always kept). */
  readonly samplingRate: number;
}

export interface ObservabilitySettings {
  /** DISABLE_STATS: count nothing (the /stats page, statsd and the stats metrics stay empty). */
  readonly disableStats: boolean;
  /** USE_PROMETHEUS; undefined when off. */
  readonly prometheus: PrometheusSettings | undefined;
  /** USE_STATSD; undefined when off (Sluice's default, see README "Observability"). */
  readonly statsd: StatsdSettings | undefined;
  /** EXTRA_TAGS (`k1:v1,k2:v2`): tags on every statsd stat (DogStatsD) and labels on every Prometheus metric. */
  readonly extraTags: Readonly<Record<string, string>>;
  /** TRACING_ENABLED; undefined when off. OTEL_EXPORTER_OTLP_* are read by the OpenTelemetry exporter itself. */
  readonly tracing: TracingSettings | undefined;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses the observability variables, adding every problem to `p`. */
export function parseObservability(env: Env, p: Problems): ObservabilitySettings {
  const disableStats = p.bool(env, "DISABLE_STATS", false);
  const prometheus = p.bool(env, "USE_PROMETHEUS", false) ? parsePrometheus(env, p) : undefined;
  // Sluice's default is false (the reference's is true): see README "Observability" for why.
  const statsd = p.bool(env, "USE_STATSD", false) && !disableStats ? parseStatsd(env, p) : undefined;
  const tracing = p.bool(env, "TRACING_ENABLED", false) ? parseTracing(env, p) : undefined;
  return { disableStats, prometheus, statsd, extraTags: parseExtraTags(env, p), tracing };
}

function parsePrometheus(env: Env, p: Problems): PrometheusSettings {
  const path = p.str(env, "PROMETHEUS_PATH", "/metrics");
  if (!path.startsWith("/")) p.add(`PROMETHEUS_PATH=${JSON.stringify(path)} must start with /`);
  return {
    listen: parseAddr(p, "PROMETHEUS_ADDR", p.str(env, "PROMETHEUS_ADDR", ":9090")),
    path,
    mapperFile: p.raw(env, "PROMETHEUS_MAPPER_YAML"),
    responseTimeAsMilliseconds: p.bool(env, "PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS", false),
  };
}

/** Go's `host:port` / `:port` / `[v6]:port`. */
function parseAddr(p: Problems, name: string, text: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65_535) {
    p.add(`${name}=${JSON.stringify(text)} is not host:port or :port`);
    return { host: "0.0.0.0", port: 9090 };
  }
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

function parseStatsd(env: Env, p: Problems): StatsdSettings {
  const flushIntervalMs = p.durationMs(env, "STATS_FLUSH_INTERVAL", 10_000);
  if (flushIntervalMs < 1) p.add("STATS_FLUSH_INTERVAL must be at least 1ms");
  return {
    host: p.str(env, "STATSD_HOST", "localhost"),
    port: p.int(env, "STATSD_PORT", 8125, { min: 1, max: 65_535 }),
    flushIntervalMs: Math.max(1, flushIntervalMs),
    dogStatsd: p.bool(env, "USE_DOG_STATSD", false),
  };
}

/** The reference's `k1:v1,k2:v2`; every tag also becomes a Prometheus label, so names must be label names. */
function parseExtraTags(env: Env, p: Problems): Readonly<Record<string, string>> {
  const raw = p.raw(env, "EXTRA_TAGS");
  const tags: Record<string, string> = {};
  if (raw === undefined) return tags;
  for (const item of raw.split(",")) {
    const at = item.indexOf(":");
    const name = (at < 0 ? item : item.slice(0, at)).trim();
    const value = at < 0 ? "" : item.slice(at + 1).trim();
    if (!LABEL_NAME.test(name) || /[|#,\p{Cc}]/u.test(value)) {
      p.add(`EXTRA_TAGS item ${JSON.stringify(item)} is not name:value (name [a-zA-Z_][a-zA-Z0-9_]*, no | # ,)`);
      continue;
    }
    tags[name] = value;
  }
  return tags;
}

function parseTracing(env: Env, p: Problems): TracingSettings {
  return {
    serviceName: p.str(env, "TRACING_SERVICE_NAME", "RateLimit"),
    serviceNamespace: p.raw(env, "TRACING_SERVICE_NAMESPACE"),
    serviceInstanceId: p.raw(env, "TRACING_SERVICE_INSTANCE_ID"),
    protocol: p.oneOf<TracingProtocol>(env, "TRACING_EXPORTER_PROTOCOL", "http", ["http", "grpc"]),
    samplingRate: p.float(env, "TRACING_SAMPLING_RATE", 1, { min: 0, max: 1 }),
  };
}
