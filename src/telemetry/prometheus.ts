/**
 * The Prometheus registry (USE_PROMETHEUS), built on prom-client. Everything is read at scrape time from counters
 * the hot path already keeps (stats.ts, latency.ts, telemetry.ts), so a scrape costs the scraper and a request
 * costs nothing more with Prometheus on than off:
 * - the reference's stats under the statsd_exporter mapping (default-mapping.ts or PROMETHEUS_MAPPER_YAML), so
 *   `ratelimit_service_rate_limit_over_limit{domain,key1,key2}` and friends are what Envoy Gateway's dashboard reads;
 * - Sluice's own `sluice_*` metrics (decisions by domain, code and algorithm; store latency; store failures; local
 *   cache; failure policy; rules) and prom-client's Node process metrics.
 * With WORKERS > 1 the primary serves the sum over workers (prom-client's AggregatorRegistry, cluster/metrics.ts):
 * each metric says how it aggregates.
 */
import client, { type Aggregator } from "prom-client";
import type { LatencyRecorder } from "./latency.js";
import { DECISIONS_OK, DECISIONS_OVER_LIMIT, type Stats } from "./stats.js";
import type { StatKind, StatsdMapper } from "./statsd-mapper.js";

type Labels = Readonly<Record<string, string>>;

/** One exported sample: `metricName` only for a histogram's `_bucket`/`_sum`/`_count` lines. */
interface Sample {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

type PromType = "counter" | "gauge" | "histogram";

/** What Sluice's counters look like from telemetry.ts (read at scrape time). */
export interface PrometheusSources {
  readonly stats: Stats;
  readonly mapper: StatsdMapper;
  readonly responseTime: LatencyRecorder;
  readonly storeLatency: LatencyRecorder;
  /** Store failures by reason (timeout, disconnected, error). */
  readonly storeFailures: () => ReadonlyMap<string, number>;
  /** Per Redis endpoint: degraded now (1/0) and switches to degraded / back. */
  readonly failurePolicy: () => ReadonlyMap<string, { degraded: boolean; switches: number; recoveries: number }>;
  readonly rules: () => { readonly version: string | undefined; readonly success: number; readonly error: number };
  /** PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS. */
  readonly responseTimeAsMilliseconds: boolean;
  /** EXTRA_TAGS, as labels on every metric. */
  readonly extraLabels: Labels;
}

const RESPONSE_TIME_STAT = "ratelimit_server.ShouldRateLimit.response_time";

/**
 * A prom-client metric whose samples are computed at scrape time. prom-client's registry formats (and escapes) any
 * registered object with a name and `get()`; its typings list only its own classes, hence the one cast.
 */
function register(
  registry: client.Registry,
  name: string,
  help: string,
  type: PromType,
  aggregator: Aggregator,
  read: () => Sample[],
): void {
  const metric = {
    name,
    help,
    type,
    aggregator,
    get: async () => ({ name, help, type, aggregator, values: read() }),
  };
  registry.registerMetric(metric as unknown as client.Metric);
}

/** The registry, with every metric registered; `metrics()` renders a scrape. */
export function createPrometheusRegistry(src: PrometheusSources): client.Registry {
  const registry = new MappedStatsRegistry(src);
  registry.setDefaultLabels({ ...src.extraLabels });
  registerResponseTime(registry, src);
  registerSluiceMetrics(registry, src);
  client.collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Registers the mapped families of the reference's stats before every scrape (and every cluster collection): their
 * names come from the mapping, so they appear with the first stat that maps to them.
 */
class MappedStatsRegistry extends client.Registry {
  private readonly families = new Map<string, Sample[]>();
  private readonly cache = new Map<string, ReturnType<StatsdMapper["map"]>>();

  constructor(private readonly src: PrometheusSources) {
    super();
  }

  override getMetricsAsArray(): ReturnType<client.Registry["getMetricsAsArray"]> {
    this.refresh();
    return super.getMetricsAsArray();
  }

  private refresh(): void {
    for (const samples of this.families.values()) samples.length = 0;
    for (const [stat, value] of this.src.stats.snapshot()) {
      const mapped = this.mapped(stat, "counter");
      if (mapped === null) continue;
      let samples = this.families.get(mapped.name);
      if (samples === undefined) {
        const own: Sample[] = [];
        samples = own;
        this.families.set(mapped.name, own);
        const help = mapped.help ?? `statsd stat ${stat.replace(/\.[^.]*$/, "")}... (statsd_exporter mapping)`;
        register(this, mapped.name, help, "counter", "sum", () => own);
      }
      samples.push({ value, labels: mapped.labels });
    }
  }

  /** Mapping results are cached: the stat names are bounded by the stats store's caps. */
  private mapped(stat: string, kind: StatKind): ReturnType<StatsdMapper["map"]> {
    let found = this.cache.get(stat);
    if (found === undefined) {
      found = this.src.mapper.map(stat, kind);
      this.cache.set(stat, found);
    }
    return found;
  }
}

function registerResponseTime(registry: client.Registry, src: PrometheusSources): void {
  const mapped = src.mapper.map(RESPONSE_TIME_STAT, "observer");
  if (mapped === null) return;
  const scale = src.responseTimeAsMilliseconds ? 1 : 1 / 1000;
  const help =
    mapped.help ?? "ShouldRateLimit response time (reference ratelimit_server.ShouldRateLimit.response_time)";
  register(registry, mapped.name, help, "histogram", "sum", () =>
    histogramSamples(mapped.name, src.responseTime, scale, mapped.labels),
  );
}

function registerSluiceMetrics(registry: client.Registry, src: PrometheusSources): void {
  register(
    registry,
    "sluice_decisions_total",
    "Descriptors decided, by domain, code and algorithm",
    "counter",
    "sum",
    () => decisions(src.stats),
  );
  register(
    registry,
    "sluice_local_cache_over_limit_hits_total",
    "Hits answered OVER_LIMIT by the local cache",
    "counter",
    "sum",
    () => {
      let total = 0;
      for (const p of src.stats.prefixes()) total += p.counters[4] as number;
      return [{ value: total, labels: {} }];
    },
  );
  register(registry, "sluice_store_duration_seconds", "Counter store time per request", "histogram", "sum", () =>
    histogramSamples("sluice_store_duration_seconds", src.storeLatency, 1 / 1000, {}),
  );
  register(registry, "sluice_store_failures_total", "Counter backend failures by reason", "counter", "sum", () =>
    [...src.storeFailures()].map(([reason, value]) => ({ value, labels: { reason } })),
  );
  register(
    registry,
    "sluice_failure_policy_degraded",
    "1 while BACKEND_FAILURE_POLICY answers for this Redis",
    "gauge",
    "sum",
    () => [...src.failurePolicy()].map(([redis, s]) => ({ value: s.degraded ? 1 : 0, labels: { redis } })),
  );
  register(
    registry,
    "sluice_failure_policy_switches_total",
    "Switches to (degraded) and from (recovered) the failure policy",
    "counter",
    "sum",
    () =>
      [...src.failurePolicy()].flatMap(([redis, s]) => [
        { value: s.switches, labels: { redis, to: "degraded" } },
        { value: s.recoveries, labels: { redis, to: "recovered" } },
      ]),
  );
  register(registry, "sluice_rules_reloads_total", "Rule loads by result", "counter", "sum", () => {
    const r = src.rules();
    return [
      { value: r.success, labels: { result: "success" } },
      { value: r.error, labels: { result: "error" } },
    ];
  });
  register(registry, "sluice_rules_info", "The loaded rules' content version (1 per worker)", "gauge", "sum", () => {
    const { version } = src.rules();
    return version === undefined ? [] : [{ value: 1, labels: { version } }];
  });
}

function decisions(stats: Stats): Sample[] {
  const byLabels = new Map<string, { labels: Labels; value: number }>();
  const add = (domain: string, algorithm: string, code: string, value: number): void => {
    if (value === 0) return;
    const key = `${domain}\u0000${algorithm}\u0000${code}`;
    const found = byLabels.get(key);
    if (found === undefined) byLabels.set(key, { labels: { domain, algorithm, code }, value });
    else found.value += value;
  };
  for (const p of stats.prefixes()) {
    if (p.algorithm === undefined) continue;
    add(p.domain, p.algorithm, "OK", p.counters[DECISIONS_OK] as number);
    add(p.domain, p.algorithm, "OVER_LIMIT", p.counters[DECISIONS_OVER_LIMIT] as number);
  }
  return [...byLabels.values()];
}

/** Cumulative buckets, `+Inf`, sum and count, as prom-client's own Histogram exports them. */
function histogramSamples(name: string, rec: LatencyRecorder, scale: number, labels: Labels): Sample[] {
  const n = rec.boundsMs.length;
  const out: Sample[] = [];
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += rec.data[i] as number;
    out.push({
      value: acc,
      labels: { ...labels, le: String(roundBound((rec.boundsMs[i] as number) * scale)) },
      metricName: `${name}_bucket`,
    });
  }
  const count = rec.data[n + 2] as number;
  out.push({ value: count, labels: { ...labels, le: "+Inf" }, metricName: `${name}_bucket` });
  out.push({ value: (rec.data[n + 1] as number) * scale, labels, metricName: `${name}_sum` });
  out.push({ value: count, labels, metricName: `${name}_count` });
  return out;
}

/** 0.1 ms × 1/1000 is 0.00010000000000000002 in floating point; bucket bounds are printed as written. */
function roundBound(x: number): number {
  return Number(x.toPrecision(12));
}
