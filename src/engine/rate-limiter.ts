/**
 * The engine: ShouldRateLimit semantics shared by every transport (gRPC, HTTP /json, ...). Plan and finish are pure;
 * the store call is the only I/O (two calls with STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT, as the reference).
 */
import { StoreUnavailableError } from "../domain/errors.js";
import type { Clock, CounterStore, DecisionObserver, RateLimiter, RuleSource } from "../domain/ports.js";
import type { CounterOp, Decision, Outcome, RateLimitRequest } from "../domain/types.js";
import { createFinishContext, finishDecision } from "./finish.js";
import { NOOP_OBSERVER } from "./noop-observer.js";
import type { EngineOptions } from "./options.js";
import { planRequest } from "./plan.js";

export interface RateLimiterDeps {
  readonly rules: RuleSource;
  readonly store: CounterStore;
  readonly clock: Clock;
  readonly options: EngineOptions;
  /** Receives per-descriptor stats; defaults to a no-op. */
  readonly observer?: DecisionObserver;
}

const NO_OUTCOMES: readonly Outcome[] = Object.freeze([]);

/**
 * Creates the rate limiter. `decide()` rejects only with InvalidRequestError (empty domain, no descriptors),
 * NoConfigError (no rule set loaded) or StoreUnavailableError (any store failure, wrapped if the store broke its
 * contract), which the transports map to INVALID_ARGUMENT / UNAVAILABLE.
 */
export function createRateLimiter(deps: RateLimiterDeps): RateLimiter {
  const { rules, store, clock, options } = deps;
  const observer = deps.observer ?? NOOP_OBSERVER;
  const ctx = createFinishContext(options, observer);
  const prefix = options.cacheKeyPrefix;
  const stopAtLimit = options.stopIncrementWhenOverLimit;
  return {
    async decide(request: RateLimitRequest): Promise<Decision> {
      const plan = planRequest(request, rules.current(), clock.nowMs(), prefix);
      if (!plan.domainKnown) {
        // One count per descriptor, as the reference's GetLimit increments domain_not_found per lookup.
        for (let i = 0; i < request.descriptors.length; i++) observer.domainNotFound(request.domain);
      }
      let outcomes = NO_OUTCOMES;
      let storeMs = 0;
      if (plan.ops.length > 0) {
        const start = observer.now();
        try {
          outcomes = stopAtLimit ? await applyStoppingAtLimit(store, plan.ops) : await store.apply(plan.ops);
        } catch (err) {
          throw err instanceof StoreUnavailableError
            ? err
            : new StoreUnavailableError("counter store failed", { cause: err });
        } finally {
          storeMs = observer.now() - start;
          observer.storeApplied(storeMs);
        }
        if (outcomes.length !== plan.ops.length) {
          throw new StoreUnavailableError(
            `counter store answered ${outcomes.length} outcomes for ${plan.ops.length} ops`,
          );
        }
      }
      return finishDecision(plan, outcomes, ctx, storeMs);
    },
  };
}

/**
 * STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT with the reference's semantics (`fixed_cache_impl.go` `getHitsAddend`),
 * store-agnostic: a first call reads every key (hits 0). If any key is over limit in the local over-limit cache,
 * nothing is incremented. Otherwise, if any op would not pass (fewer units remaining than its hits, or a check that
 * is already rejected), only those ops are applied (to record the over-limit state) and the others are read again;
 * if none would, all are applied. A descriptor's limits are decided together (a group is applied or read as one).
 * Refunds (negative hits) are not increments and always apply; so do budget charges, which are never lost.
 */
export async function applyStoppingAtLimit(
  store: CounterStore,
  ops: readonly CounterOp[],
): Promise<readonly Outcome[]> {
  const n = ops.length;
  const reads: CounterOp[] = new Array(n);
  for (let i = 0; i < n; i++) reads[i] = readOf(ops[i] as CounterOp);
  const current = await store.apply(reads);
  if (current.length !== n) return current; // contract breach: the caller rejects on the length mismatch
  let anyLocal = false;
  let anyOver = false;
  let anyMustApply = false;
  const wouldGoOver: boolean[] = new Array(n);
  for (let i = 0; i < n; ) {
    const first = ops[i] as CounterOp;
    const size = Math.max(first.group, 1);
    let over = false;
    for (let j = i; j < i + size && j < n; j++) {
      const op = ops[j] as CounterOp;
      const o = current[j] as Outcome;
      anyLocal ||= o.fromLocalCache;
      anyMustApply ||= mustApply(op);
      // As the reference's IsOverLimitThresholdReached(current + hits): a check-only op (hits 0) on a counter that
      // is already over counts as going over too, so it stops the other keys' increments.
      over ||= !mustApply(op) && (!o.admitted || o.remaining < op.hits);
    }
    for (let j = i; j < i + size && j < n; j++) wouldGoOver[j] = over;
    anyOver ||= over;
    i += size;
  }
  if (anyLocal && !anyMustApply) return current;
  if (!anyLocal && !anyOver) return store.apply(ops);
  const second: CounterOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const op = ops[i] as CounterOp;
    second[i] = mustApply(op) || (!anyLocal && wouldGoOver[i]) ? op : (reads[i] as CounterOp);
  }
  return store.apply(second);
}

/** Refunds and budget charges are applied whatever the other keys say. */
function mustApply(op: CounterOp): boolean {
  return op.negative || (op.limit.budget && op.hits > 0);
}

function readOf(op: CounterOp): CounterOp {
  return op.hits === 0 && !op.negative ? op : { ...op, hits: 0, negative: false };
}
