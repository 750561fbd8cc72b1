/**
 * Telemetry composition: one stats store (stats.ts) fed by the engine and the transports through the ports in
 * domain/ports.ts, read by every exporter: the debug /stats page, Prometheus (prometheus.ts), statsd (statsd.ts);
 * plus tracing (tracing.ts). Exporters that are off cost nothing per request: their hooks are no-ops chosen here once.
 */
import type { Logger } from "pino";
import type client from "prom-client";
import type { CallObserver, CallSpan, DecisionObserver, StoreObserver } from "../domain/ports.js";
import type { RuleSet } from "../domain/types.js";
import type { ObservabilitySettings } from "../settings/observability-settings.js";
import { createLatencyRecorder } from "./latency.js";
import { createPrometheusRegistry } from "./prometheus.js";
import { createStats, type Stats } from "./stats.js";
import { createStatsdExporter, type StatsdExporter } from "./statsd.js";
import type { StatsdMapper } from "./statsd-mapper.js";
import type { Tracing } from "./tracing.js";

/** What telemetry reads from the rules watcher (at scrape/flush time). */
export interface RulesStatus {
  current(): RuleSet | undefined;
  readonly stats: { readonly loadSuccess: number; readonly loadError: number };
}

export interface Telemetry {
  /** The stats store behind /stats (and every exporter). */
  readonly stats: Stats;
  /** For the engine. */
  readonly decisions: DecisionObserver;
  /** For the transports. */
  readonly calls: CallObserver;
  /** For the counter store. */
  readonly store: StoreObserver;
  /** The Prometheus registry when USE_PROMETHEUS is on. */
  readonly registry: client.Registry | undefined;
  /** Reads rule load counts and the version from here on (`config_load_*`, `sluice_rules_*`). */
  watchRules(rules: RulesStatus): void;
  /** Flushes statsd and exports buffered spans. */
  close(): Promise<void>;
}

/** How a cluster worker shares its telemetry (cluster/telemetry.ts). */
export interface ClusterTelemetryHooks {
  /** The /stats snapshot of the whole process tree. */
  readonly snapshot: () => Promise<ReturnType<Stats["snapshot"]>>;
}

export interface TelemetryDeps {
  readonly log: Logger;
  /** The statsd → Prometheus mapping (loaded once at startup). */
  readonly mapper: StatsdMapper;
  /** With TRACING_ENABLED (tracing.ts, imported only then: the SDK is large). */
  readonly tracing?: Tracing | undefined;
}

const noop = (): void => {};
const noSpan = (): CallSpan | undefined => undefined;

export function createTelemetry(settings: ObservabilitySettings, deps: TelemetryDeps): Telemetry {
  const stats = createStats();
  let rules: RulesStatus | undefined;
  const responseTime = createLatencyRecorder();
  const storeLatency = createLatencyRecorder();
  const failures = new Map<string, number>();
  const policy = new Map<string, { degraded: boolean; switches: number; recoveries: number }>();
  const prom = settings.prometheus;
  const statsd: StatsdExporter | undefined =
    settings.statsd === undefined
      ? undefined
      : createStatsdExporter(settings.statsd, settings.extraTags, stats, deps.log.child({ component: "statsd" }));
  const { tracing } = deps;
  const registry =
    prom === undefined
      ? undefined
      : createPrometheusRegistry({
          stats,
          mapper: deps.mapper,
          responseTime,
          storeLatency,
          storeFailures: () => failures,
          failurePolicy: () => policy,
          rules: () => ({
            version: rules?.current()?.version,
            success: rules?.stats.loadSuccess ?? 0,
            error: rules?.stats.loadError ?? 0,
          }),
          responseTimeAsMilliseconds: prom.responseTimeAsMilliseconds,
          extraLabels: settings.extraTags,
        });

  const responded = respondedHook(registry === undefined ? undefined : responseTime, statsd);
  const storeApplied = storeHook(registry === undefined ? undefined : storeLatency);
  const counting = !settings.disableStats;
  // Durations are measured only when something records them: call latency for Prometheus or statsd, store latency
  // for Prometheus or trace spans.
  const callClock = registry !== undefined || statsd !== undefined ? monotonicNow : zeroNow;
  const storeClock = registry !== undefined || tracing !== undefined ? monotonicNow : zeroNow;
  return {
    stats,
    decisions: {
      descriptorDecided: counting ? stats.descriptorDecided : noop,
      domainNotFound: counting ? stats.domainNotFound : noop,
      globalShadowMode: counting ? stats.globalShadowMode : noop,
      storeApplied,
      now: storeClock,
    },
    calls: {
      request: counting ? stats.request : noop,
      callError: counting ? stats.callError : noop,
      responded,
      now: callClock,
      traceCall: tracing === undefined ? noSpan : tracing.startCall,
    },
    store: {
      failed(reason) {
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      },
      failurePolicy(endpoint, degraded) {
        const s = policy.get(endpoint) ?? { degraded: false, switches: 0, recoveries: 0 };
        s.degraded = degraded;
        if (degraded) s.switches++;
        else s.recoveries++;
        policy.set(endpoint, s);
      },
    },
    registry,
    watchRules(r) {
      rules = r;
      if (!counting) return;
      stats.addGauge("ratelimit.service.config_load_success", () => r.stats.loadSuccess);
      stats.addGauge("ratelimit.service.config_load_error", () => r.stats.loadError);
    },
    async close() {
      await statsd?.close();
      await tracing?.close();
    },
  };
}

const monotonicNow = (): number => performance.now();
const zeroNow = (): number => 0;

function respondedHook(
  latency: ReturnType<typeof createLatencyRecorder> | undefined,
  statsd: StatsdExporter | undefined,
): (ms: number) => void {
  if (latency !== undefined && statsd !== undefined) {
    return (ms) => {
      latency.record(ms);
      statsd.timing(ms);
    };
  }
  if (latency !== undefined) return latency.record;
  if (statsd !== undefined) return statsd.timing;
  return noop;
}

function storeHook(latency: ReturnType<typeof createLatencyRecorder> | undefined): (ms: number) => void {
  return latency === undefined ? noop : latency.record;
}
