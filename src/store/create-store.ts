/**
 * Builds the CounterStore that Settings ask for: the backend (memory or redis), wrapped in the local
 * over-limit cache when LOCAL_CACHE_SIZE_IN_BYTES > 0 (reference §1.8: only over-limit keys, answered without
 * touching the backend). The one place that chooses a backend; main only calls this.
 */
import type { Logger } from "pino";
import type { Clock, CounterStore, StoreObserver } from "../domain/ports.js";
import type { Settings } from "../settings/settings.js";
import { createOverLimitCache } from "./local-cache.js";
import { createMemoryStore } from "./memory-store.js";
import { createRedisBackend } from "./redis/create-redis-backend.js";

export interface StoreDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** Sets a named health component (e.g. "redis"); /healthcheck and grpc.health.v1 follow it. */
  readonly setHealth: (component: string, healthy: boolean) => void;
  /** Backend failures and failure-policy switches (metrics); optional. */
  readonly observer?: StoreObserver | undefined;
}

/** Creates the configured store. Close it with `close()` at shutdown. */
export async function createStore(settings: Readonly<Settings>, deps: StoreDeps): Promise<CounterStore> {
  const backend = await createBackend(settings, deps);
  if (settings.localCacheSizeBytes <= 0) return backend;
  return createOverLimitCache(backend, { clock: deps.clock, maxBytes: settings.localCacheSizeBytes });
}

async function createBackend(settings: Readonly<Settings>, deps: StoreDeps): Promise<CounterStore> {
  switch (settings.backend) {
    case "memory":
      return createMemoryStore({ clock: deps.clock, maxKeys: settings.memoryMaxKeys });
    case "redis": {
      if (settings.redis === undefined) throw new Error("BACKEND_TYPE=redis without Redis settings");
      // Connects in the background: the service starts (answering UNAVAILABLE, or by BACKEND_FAILURE_POLICY) even
      // while Redis is down. With REDIS_HEALTH_CHECK_ACTIVE_CONNECTION, /healthcheck follows the connections.
      return createRedisBackend(settings.redis, {
        clock: deps.clock,
        logger: deps.log,
        onHealthChange: (healthy) => deps.setHealth("redis", healthy),
        observer: deps.observer,
      });
    }
  }
}
