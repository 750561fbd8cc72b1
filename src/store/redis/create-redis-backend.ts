/**
 * Composition of the Redis backend from RedisSettings: one store per endpoint (main, and per-second when
 * REDIS_PERSECOND=true), each behind the failure policy, routed by unit.
 */
import type { Logger } from "pino";
import type { Clock, CounterStore, StoreObserver } from "../../domain/ports.js";
import type { RedisEndpointSettings, RedisSettings } from "../../settings/redis-settings.js";
import { withFailurePolicy } from "./failure-policy.js";
import { createRedisStore, type RedisCounterStore } from "./redis-store.js";
import { routeSecondUnits } from "./second-routing-store.js";

/** The Redis backend as main.ts and /healthcheck see it. */
export interface RedisBackend extends CounterStore {
  /**
   * False while a Redis has no ready connection, but only with REDIS_HEALTH_CHECK_ACTIVE_CONNECTION=true (as the
   * reference); always true otherwise.
   */
  healthy(): boolean;
  /** True while every Redis of the backend has a ready connection. */
  connected(): boolean;
}

export interface RedisBackendDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Random source for the TTL jitter (tests pin it). */
  readonly random?: () => number;
  /**
   * With REDIS_HEALTH_CHECK_ACTIVE_CONNECTION=true, told the backend's health at once (false until connected) and on
   * every change; never called otherwise.
   */
  readonly onHealthChange?: (healthy: boolean) => void;
  /** Told every backend failure and failure-policy switch (metrics). */
  readonly observer?: StoreObserver | undefined;
}

/** Creates the stores and starts connecting in the background; never waits for Redis. */
export function createRedisBackend(settings: RedisSettings, deps: RedisBackendDeps): RedisBackend {
  const checkConnections = settings.healthCheckActiveConnection;
  const stores: RedisCounterStore[] = [];
  const allConnected = (): boolean => stores.every((s) => s.connected());
  let lastHealth: boolean | undefined;
  const reportHealth = (): void => {
    if (!checkConnections || deps.onHealthChange === undefined || stores.length === 0) return;
    const now = allConnected();
    if (now !== lastHealth) {
      lastHealth = now;
      deps.onHealthChange(now);
    }
  };
  const make = (endpoint: RedisEndpointSettings): RedisCounterStore => {
    deps.logger.child({ component: "redis-store", redis: endpoint.name }).info(
      {
        target: endpoint.target,
        topology: endpoint.topology,
        tls: endpoint.tls !== undefined,
        timeoutMs: endpoint.timeoutMs,
        failurePolicy: settings.failurePolicy,
      },
      "redis store configured",
    );
    const store = createRedisStore({
      endpoint,
      clock: deps.clock,
      logger: deps.logger,
      expirationJitterMaxSeconds: settings.expirationJitterMaxSeconds,
      ...(deps.random === undefined ? {} : { random: deps.random }),
      onConnectionChange: reportHealth,
    });
    stores.push(store);
    return withFailurePolicy(store, {
      policy: settings.failurePolicy,
      clock: deps.clock,
      logger: deps.logger,
      localMaxKeys: settings.failureLocalMaxKeys,
      observer: deps.observer,
    });
  };
  const main = make(settings.main);
  let perSecond: RedisCounterStore | undefined;
  try {
    perSecond = settings.perSecond === undefined ? undefined : make(settings.perSecond);
  } catch (err) {
    void main.close();
    throw err;
  }
  const store = perSecond === undefined ? main : routeSecondUnits(main, perSecond);
  reportHealth();
  return {
    apply: (ops) => store.apply(ops),
    close: () => store.close(),
    healthy: () => !checkConnections || allConnected(),
    connected: allConnected,
  };
}
