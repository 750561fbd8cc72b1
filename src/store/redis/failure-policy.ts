/**
 * BACKEND_FAILURE_POLICY: what a Redis store answers while Redis is unreachable (StoreUnavailableError), per endpoint.
 * Redis is still tried on every call (failing fast while disconnected), so the store switches back by itself on the
 * first call Redis answers. Each switch is logged once, never per request.
 */
import type { Logger } from "pino";
import { StoreUnavailableError } from "../../domain/errors.js";
import type { Clock, StoreObserver } from "../../domain/ports.js";
import type { CounterOp, Outcome } from "../../domain/types.js";
import type { FailurePolicy } from "../../settings/redis-settings.js";
import { createMemoryStore, type MemoryStore } from "../memory-store.js";
import { errorSummary } from "./connection.js";
import type { RedisCounterStore } from "./redis-store.js";

export interface FailurePolicyOptions {
  readonly policy: FailurePolicy;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Bound on the counters the `local` policy keeps in memory. */
  readonly localMaxKeys: number;
  /** Told every failure and every switch (metrics); optional. */
  readonly observer?: StoreObserver | undefined;
}

const MESSAGES: Readonly<Record<FailurePolicy, string>> = {
  unavailable: "redis unavailable; answering UNAVAILABLE until it is back",
  allow: "redis unavailable; allowing every request until it is back (BACKEND_FAILURE_POLICY=allow)",
  deny: "redis unavailable; denying every request until it is back (BACKEND_FAILURE_POLICY=deny)",
  local: "redis unavailable; counting in this instance's memory until it is back (BACKEND_FAILURE_POLICY=local)",
};

/** Wraps `inner` so that its failures are answered by `policy`; `unavailable` only logs and rethrows. */
export function withFailurePolicy(inner: RedisCounterStore, opts: FailurePolicyOptions): RedisCounterStore {
  const { policy } = opts;
  const log = opts.logger.child({ component: "redis-store", redis: inner.endpoint.name });
  let degraded = false;
  let local: MemoryStore | undefined;

  const recovered = (outcomes: readonly Outcome[]): readonly Outcome[] => {
    if (degraded) {
      degraded = false;
      opts.observer?.failurePolicy(inner.endpoint.name, false);
      log.info({ target: inner.endpoint.target, policy }, "redis is back; deciding with redis again");
    }
    return outcomes;
  };

  const fallback = (ops: readonly CounterOp[], err: unknown): readonly Outcome[] | Promise<readonly Outcome[]> => {
    const unavailable =
      err instanceof StoreUnavailableError ? err : new StoreUnavailableError("redis store failed", { cause: err });
    opts.observer?.failed(unavailable.reason);
    if (!degraded) {
      degraded = true;
      opts.observer?.failurePolicy(inner.endpoint.name, true);
      log.warn({ target: inner.endpoint.target, policy, err: errorSummary(unavailable) }, MESSAGES[policy]);
    }
    switch (policy) {
      case "unavailable":
        throw unavailable;
      case "allow":
        return ops.map(allowed);
      case "deny":
        return ops.map(denied);
      case "local":
        local ??= createMemoryStore({ clock: opts.clock, maxKeys: opts.localMaxKeys });
        return local.apply(ops);
    }
  };

  return {
    endpoint: inner.endpoint,
    connected: () => inner.connected(),
    apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]> {
      return inner.apply(ops).then(recovered, (err: unknown) => fallback(ops, err));
    },
    async close(): Promise<void> {
      await inner.close();
      await local?.close();
    },
  };
}

/** `allow`: the op passes as if nothing were used; nothing is counted. */
function allowed(op: CounterOp): Outcome {
  const windowMs = op.limit.windowSeconds * 1000;
  return {
    admitted: true,
    remaining: op.limit.burst,
    retryAfterMs: 0,
    resetAfterMs: windowMs,
    consumed: 0,
    used: 0,
    fromLocalCache: false,
  };
}

/** `deny`: the op is rejected without being counted; callers are told to retry after one window. */
function denied(op: CounterOp): Outcome {
  const windowMs = op.limit.windowSeconds * 1000;
  return {
    admitted: false,
    remaining: 0,
    retryAfterMs: windowMs,
    resetAfterMs: windowMs,
    consumed: 0,
    used: 0,
    fromLocalCache: false,
  };
}
