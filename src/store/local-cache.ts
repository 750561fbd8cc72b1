/**
 * LOCAL_CACHE_SIZE_IN_BYTES: a per-process cache of keys known to be over their limit, in front of any CounterStore
 * (envoyproxy/ratelimit's freecache in `BaseRateLimiter`), for every algorithm.
 *
 * - An op whose key is cached is answered locally: `fromLocalCache = true`, nothing applied, no call to the inner
 *   store, with what the store said when it rejected it (retry and reset times counted down since). A descriptor's
 *   limits (a group) are cached and answered together, under its first key.
 * - Every other op of the batch goes to the inner store in one call; a group that comes back rejected caches its
 *   first key for as long as a unit-cost request would still be rejected (the outcome's retry time: the window's
 *   end for the reference's fixed window, which counts every hit; the time until one unit is back for a bucket or a
 *   sliding window), so the cache never answers OVER_LIMIT after the limit would have admitted the request. Only
 *   ops of cost 0 or 1 cache anything (a rejected cost of 5 says nothing about a cost of 1), except for the fixed
 *   window, whose counter only grows until its window ends.
 * - Refunds always reach the inner store and uncache the key. Budgets are never cached: their charges must always
 *   reach the store, and their checks are answered by it.
 *
 * Size: each entry is estimated at ENTRY_OVERHEAD_BYTES + 2 bytes per key character; when an insert would exceed
 * `maxBytes`, the oldest entries are evicted first (expired ones are the oldest, so they go first).
 */
import type { Clock, CounterStore } from "../domain/ports.js";
import type { CounterOp, Outcome } from "../domain/types.js";

/** Estimated fixed cost of one cached key (Map entry, string header, expiry number). */
export const ENTRY_OVERHEAD_BYTES = 64;

export interface OverLimitCacheOptions {
  readonly clock: Clock;
  /** Upper bound on the estimated bytes held (> 0). */
  readonly maxBytes: number;
}

function entryBytes(key: string): number {
  return ENTRY_OVERHEAD_BYTES + 2 * key.length;
}

/** Whether a group starting at `op` may be answered from (and recorded in) the cache. */
function answerable(op: CounterOp): boolean {
  return !op.negative && !op.limit.budget;
}

/** One member of a cached group: its rejection, with absolute times. */
interface CachedMember {
  readonly admitted: boolean;
  readonly remaining: number;
  readonly retryAtMs: number;
  readonly resetAtMs: number;
  readonly used: number;
}

interface CachedGroup {
  readonly untilMs: number;
  readonly members: readonly CachedMember[];
}

export function createOverLimitCache(inner: CounterStore, opts: OverLimitCacheOptions): CounterStore {
  const { clock, maxBytes } = opts;
  if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive: ${maxBytes}`);
  /** key → the group's rejection, until `untilMs`; Map order is insertion order, i.e. oldest first. */
  const entries = new Map<string, CachedGroup>();
  let bytes = 0;

  function isCached(key: string, nowMs: number): boolean {
    const cached = entries.get(key);
    if (cached === undefined) return false;
    if (cached.untilMs > nowMs) return true;
    remove(key);
    return false;
  }

  function remove(key: string): void {
    if (entries.delete(key)) bytes -= entryBytes(key);
  }

  function insert(key: string, group: CachedGroup): void {
    const size = entryBytes(key);
    if (size > maxBytes || entries.has(key)) return;
    for (const oldest of entries.keys()) {
      if (bytes + size <= maxBytes) break;
      remove(oldest);
    }
    entries.set(key, group);
    bytes += size;
  }

  /** Records what the inner store said about the group of `size` ops starting at ops[i]. */
  function record(ops: readonly CounterOp[], outs: readonly Outcome[], i: number, size: number, nowMs: number) {
    const op = ops[i] as CounterOp;
    if (op.negative) {
      remove(op.key);
      return;
    }
    if (!answerable(op)) return;
    let untilMs = 0;
    for (let j = i; j < i + size; j++) {
      const o = outs[j];
      if (o === undefined) return; // a store that broke its contract; the engine rejects the batch
      const member = ops[j] as CounterOp;
      if (o.admitted || !(member.hits <= 1 || member.limit.strategy === "fixed_window")) continue;
      const until = nowMs + o.retryAfterMs;
      if (until > untilMs) untilMs = until;
    }
    if (untilMs <= nowMs) return;
    const members: CachedMember[] = new Array(size);
    for (let j = 0; j < size; j++) {
      const o = outs[i + j] as Outcome;
      members[j] = {
        admitted: o.admitted,
        remaining: o.remaining,
        retryAtMs: nowMs + o.retryAfterMs,
        resetAtMs: nowMs + o.resetAfterMs,
        used: o.used,
      };
    }
    insert(op.key, { untilMs, members });
  }

  return {
    async apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]> {
      const nowMs = clock.nowMs();
      const n = ops.length;
      let hits = 0;
      for (let i = 0; i < n; i += groupSize(ops[i] as CounterOp)) {
        const op = ops[i] as CounterOp;
        if (answerable(op) && isCached(op.key, nowMs)) hits++;
      }
      if (hits === 0) {
        const outs = await inner.apply(ops);
        for (let i = 0; i < n; i += groupSize(ops[i] as CounterOp)) {
          record(ops, outs, i, groupSize(ops[i] as CounterOp), nowMs);
        }
        return outs;
      }
      const outs: Outcome[] = new Array(n);
      const misses: CounterOp[] = [];
      const missIndex: number[] = [];
      for (let i = 0; i < n; ) {
        const op = ops[i] as CounterOp;
        const size = groupSize(op);
        const cached = answerable(op) ? entries.get(op.key) : undefined;
        for (let j = i; j < i + size && j < n; j++) {
          const member = cached?.members[j - i];
          if (member !== undefined) {
            outs[j] = cachedOutcome(member, nowMs);
          } else {
            misses.push(ops[j] as CounterOp);
            missIndex.push(j);
          }
        }
        i += size;
      }
      if (misses.length > 0) {
        const answered = await inner.apply(misses);
        for (let j = 0; j < misses.length; j++) outs[missIndex[j] as number] = answered[j] as Outcome;
        for (let j = 0; j < misses.length; j += groupSize(misses[j] as CounterOp)) {
          record(misses, answered, j, groupSize(misses[j] as CounterOp), nowMs);
        }
      }
      return outs;
    },
    close(): Promise<void> {
      entries.clear();
      bytes = 0;
      return inner.close();
    },
  };
}

function groupSize(op: CounterOp): number {
  return Math.max(op.group, 1);
}

function cachedOutcome(m: CachedMember, nowMs: number): Outcome {
  return {
    admitted: m.admitted,
    remaining: m.remaining,
    retryAfterMs: m.admitted ? 0 : Math.max(1, m.retryAtMs - nowMs),
    resetAfterMs: Math.max(0, m.resetAtMs - nowMs),
    consumed: 0,
    used: m.used,
    fromLocalCache: true,
  };
}
