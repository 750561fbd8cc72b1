/**
 * Composition of one Sluice instance: settings → store → rule sources (files, xDS) → limiter → servers, and shutdown in reverse
 * order. Wiring only: every piece is built by its own module. Kept apart from main.ts (process concerns: env,
 * signals, exit codes) so tests can run the real wiring in-process and a future WORKERS wrapper can start one
 * instance per worker.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { createSystemClock } from "./clock.js";
import type { Clock, RateLimiter } from "./domain/ports.js";
import type { EngineOptions } from "./engine/options.js";
import { createRateLimiter } from "./engine/rate-limiter.js";
import { createRuleHolder, type RuleHolder } from "./reload/holder.js";
import { createRulesWatcher } from "./reload/rules-watcher.js";
import type { Settings } from "./settings/settings.js";
import { createStore } from "./store/create-store.js";
import type { Stats } from "./telemetry/stats.js";
import { loadStatsdMapper, type StatsdMapper } from "./telemetry/statsd-mapper.js";
import { type ClusterTelemetryHooks, createTelemetry, type Telemetry } from "./telemetry/telemetry.js";
import { type GrpcServer, startGrpcServer } from "./transport/grpc/server.js";
import { createHealth, type Health } from "./transport/health.js";
import { healthcheckRoute } from "./transport/http/admin.js";
import { debugRoutes } from "./transport/http/debug.js";
import { createJsonHandler } from "./transport/http/json.js";
import { metricsRoute } from "./transport/http/metrics.js";
import { createNginxAuthHandler, NGINX_AUTH_PATH } from "./transport/http/nginx-auth.js";
import { type HttpServer, startHttpServer } from "./transport/http/server.js";
import { createXdsRuleSource } from "./transport/xds/rule-source.js";

export interface ServiceDeps {
  readonly log: Logger;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
  /**
   * Log the "Sluice started" line whatever LOG_LEVEL is (default true): a user who runs `npm start` sees where it
   * listens and which store and rules it uses. main turns it off for all but the first of several workers.
   */
  readonly announce?: boolean;
  /** The statsd → Prometheus mapping; loaded from settings when absent. */
  readonly mapper?: StatsdMapper;
  /**
   * With WORKERS > 1: the primary serves PROMETHEUS_ADDR and the debug /stats sums over workers (cluster/telemetry.ts);
   * this instance hands its registry and stats to that instead of listening itself.
   */
  readonly clusterTelemetry?: (telemetry: Telemetry) => ClusterTelemetryHooks;
}

export interface RunningService {
  /** Bound ports (useful when settings asked for port 0). `grpc` is 0 when listening on GRPC_UDS. */
  /** `metrics` is 0 when Prometheus is off (or served by the cluster primary). */
  readonly ports: { readonly http: number; readonly grpc: number; readonly debug: number; readonly metrics: number };
  readonly health: Health;
  readonly stats: Stats;
  /**
   * Graceful stop: health turns unhealthy at once, gRPC stops accepting and in-flight calls finish (bounded by
   * SHUTDOWN_TIMEOUT), then the HTTP listeners close, then the watcher and the store. Idempotent.
   */
  close(): Promise<void>;
}

/** Engine switches from Settings. */
export function engineOptionsFrom(settings: Readonly<Settings>): EngineOptions {
  return {
    cacheKeyPrefix: settings.cacheKeyPrefix,
    nearLimitRatio: settings.nearLimitRatio,
    globalShadowMode: settings.shadowMode,
    globalQuotaMode: settings.quotaMode,
    stopIncrementWhenOverLimit: settings.stopCacheKeyIncrementWhenOverlimit,
    responseHeaders: settings.responseHeaders,
    responseDynamicMetadata: settings.responseDynamicMetadata,
  };
}

/** Starts every component; on a startup failure, closes what was started and rethrows. */
export async function startService(settings: Readonly<Settings>, deps: ServiceDeps): Promise<RunningService> {
  const { log } = deps;
  const clock = deps.clock ?? createSystemClock();
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  };
  try {
    const mapper = deps.mapper ?? loadStatsdMapper(settings.observability.prometheus?.mapperFile);
    const tracingSettings = settings.observability.tracing;
    const tracing =
      tracingSettings === undefined
        ? undefined
        : (await import("./telemetry/tracing.js")).createTracing(tracingSettings);
    const telemetry = createTelemetry(settings.observability, { log, mapper, tracing });
    cleanups.push(() => telemetry.close());
    const { stats } = telemetry;
    const rules = createRuleHolder();
    const watcher = settings.configSources.includes("FILE")
      ? createRulesWatcher({ ...settings.runtime, log, holder: rules })
      : undefined;
    if (watcher) cleanups.push(() => watcher.close());
    const xds = settings.xds
      ? createXdsRuleSource({
          settings: settings.xds,
          feed: rules.register("xds"),
          mergeDomainConfig: settings.runtime.mergeDomainConfig,
          log,
        })
      : undefined;
    if (xds) cleanups.push(() => xds.close());
    telemetry.watchRules(rules);
    if (watcher && !settings.observability.disableStats) {
      stats.addGauge("ratelimit.service.config_watch_error", () => watcher.stats.watchError);
    }
    const health = createHealth({
      requireConfig: settings.healthyWithAtLeastOneConfigLoaded,
      requireInitialRules: xds !== undefined && !settings.forceStartWithoutInitialConfig,
      rules,
    });
    cleanups.push(() => health.close());
    const store = await createStore(settings, {
      clock,
      log,
      setHealth: (component, healthy) => health.set(component, healthy),
      observer: telemetry.store,
    });
    cleanups.push(() => store.close());
    await watcher?.start();
    xds?.start();
    const limiter = createRateLimiter({
      rules,
      store,
      clock,
      options: engineOptionsFrom(settings),
      observer: telemetry.decisions,
    });
    const cluster = deps.clusterTelemetry?.(telemetry);
    const servers = await startServers(settings, { log, limiter, health, telemetry, rules, cluster });
    cleanups.push(...servers.cleanups);
    logStartup(deps.announce === false ? log : atLeastInfo(log), settings, servers);
    let closing: Promise<void> | undefined;
    return {
      ports: {
        http: servers.http.port,
        grpc: servers.grpc.port,
        debug: servers.debug.port,
        metrics: servers.metrics?.port ?? 0,
      },
      health,
      stats,
      close() {
        closing ??= (async () => {
          health.set("sigterm", false);
          await servers.grpc.close(settings.shutdownTimeoutMs);
          await cleanup();
        })();
        return closing;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface Servers {
  readonly grpc: GrpcServer;
  readonly http: HttpServer;
  readonly debug: HttpServer;
  readonly metrics: HttpServer | undefined;
  /** In start order; run reversed. The gRPC close here is a no-op after close() already drained it. */
  readonly cleanups: (() => Promise<void>)[];
}

async function startServers(
  settings: Readonly<Settings>,
  deps: {
    log: Logger;
    limiter: RateLimiter;
    health: Health;
    telemetry: Telemetry;
    rules: RuleHolder;
    cluster: ClusterTelemetryHooks | undefined;
  },
): Promise<Servers> {
  const { log, limiter, health, telemetry, rules, cluster } = deps;
  const { stats, calls } = telemetry;
  const deadline = settings.shutdownTimeoutMs;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const debug = await startHttpServer({
      ...settings.debug,
      maxConnections: settings.maxConnections,
      routes: debugRoutes({ rules, snapshot: cluster?.snapshot ?? (() => stats.snapshot()) }),
      log: log.child({ component: "debug-http" }),
    });
    cleanups.push(() => debug.close(deadline));
    const httpLog = log.child({ component: "http" });
    const http = await startHttpServer({
      ...settings.http,
      maxConnections: settings.maxConnections,
      routes: [
        healthcheckRoute(health),
        {
          path: "/json",
          help: "ShouldRateLimit over HTTP/1 (protojson)",
          handler: createJsonHandler({ limiter, calls, log: httpLog }),
        },
        {
          path: NGINX_AUTH_PATH,
          help: "nginx auth_request: 200 allowed, 403 limited (X-RateLimit-*, Retry-After)",
          handler: createNginxAuthHandler({ limiter, calls, log: httpLog }),
        },
      ],
      log: httpLog,
    });
    cleanups.push(() => http.close(deadline));
    const grpc = await startGrpcServer({
      ...settings.grpc,
      maxConnections: settings.maxConnections,
      limiter,
      health,
      calls,
      log,
    });
    cleanups.push(() => grpc.close(deadline));
    const metrics = cluster === undefined ? await startMetricsServer(settings, telemetry, log) : undefined;
    if (metrics !== undefined) cleanups.push(() => metrics.close(deadline));
    return { grpc, http, debug, metrics, cleanups };
  } catch (err) {
    for (const fn of cleanups.reverse()) await fn();
    throw err;
  }
}

/** A logger that prints info lines even when LOG_LEVEL is above info (pino child loggers carry their own level). */
function atLeastInfo(log: Logger): Logger {
  return log.isLevelEnabled("info") ? log : log.child({}, { level: "info" });
}

/** PROMETHEUS_ADDR, when USE_PROMETHEUS is on. */
async function startMetricsServer(
  settings: Readonly<Settings>,
  telemetry: Telemetry,
  log: Logger,
): Promise<HttpServer | undefined> {
  const prom = settings.observability.prometheus;
  const registry = telemetry.registry;
  if (prom === undefined || registry === undefined) return undefined;
  const metricsLog = log.child({ component: "metrics-http" });
  return startHttpServer({
    ...prom.listen,
    routes: [
      metricsRoute({
        path: prom.path,
        render: () => registry.metrics(),
        contentType: registry.contentType,
        log: metricsLog,
      }),
    ],
    log: metricsLog,
  });
}

function logStartup(log: Logger, settings: Readonly<Settings>, servers: Servers): void {
  const { runtime } = settings;
  log.info(
    {
      http: servers.http.address,
      grpc: servers.grpc.address,
      debug: servers.debug.address,
      metrics: servers.metrics?.address,
      backend: settings.backend,
      redis: settings.redis?.main.target,
      rulesDir: settings.configSources.includes("FILE")
        ? join(runtime.root, runtime.subdirectory, runtime.appDirectory)
        : undefined,
      xdsServer: settings.xds?.serverUrl,
      tls: settings.grpc.tls !== undefined,
      logLevel: settings.logLevel,
    },
    "Sluice started",
  );
}
