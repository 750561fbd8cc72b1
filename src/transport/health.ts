/**
 * Service health shared by HTTP /healthcheck and grpc.health.v1, following the reference's HealthChecker
 * (src/server/health.go): healthy only when every component is. Components: `sigterm` (fails once shutdown starts),
 * `config` (with HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED: healthy once a loaded rule set has at least one domain;
 * with xDS and without FORCE_START_WITHOUT_INITIAL_CONFIG: healthy once the first rules are loaded, where the
 * reference would not have started serving yet), and any component another module registers (e.g. `redis`).
 */
import type { RuleSource } from "../domain/ports.js";

export interface Health {
  isHealthy(): boolean;
  /** Sets a named component's health (e.g. "sigterm", "redis"). */
  set(component: string, healthy: boolean): void;
  /** Calls `listener` whenever overall health changes; returns the unsubscribe function. */
  subscribe(listener: (healthy: boolean) => void): () => void;
  /** Stops the change poller. */
  close(): void;
}

export interface HealthOptions {
  /** HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED. */
  readonly requireConfig: boolean;
  /** Not ready until the rules have loaded (xDS without FORCE_START_WITHOUT_INITIAL_CONFIG). */
  readonly requireInitialRules?: boolean;
  readonly rules: RuleSource;
  /** How often subscribers' view is refreshed for the config component (it changes without an event). */
  readonly pollMs?: number;
}

/** Creates the health model. Starts healthy unless a good config is required and none is loaded. */
export function createHealth(options: HealthOptions): Health {
  const components = new Map<string, boolean>([["sigterm", true]]);
  const listeners = new Set<(healthy: boolean) => void>();
  let timer: NodeJS.Timeout | undefined;
  const configHealthy = (): boolean => {
    const rules = options.rules.current();
    if (options.requireInitialRules && rules === undefined) return false;
    if (!options.requireConfig) return true;
    return rules !== undefined && rules.domains.length > 0;
  };
  const isHealthy = (): boolean => configHealthy() && [...components.values()].every(Boolean);
  let last = isHealthy();
  const notify = (): void => {
    const now = isHealthy();
    if (now === last) return;
    last = now;
    for (const l of listeners) l(now);
  };
  const stopTimer = (): void => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return {
    isHealthy,
    set(component, healthy) {
      components.set(component, healthy);
      notify();
    },
    subscribe(listener) {
      notify();
      listeners.add(listener);
      if (timer === undefined) {
        timer = setInterval(notify, options.pollMs ?? 500);
        timer.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stopTimer();
      };
    },
    close: stopTimer,
  };
}
