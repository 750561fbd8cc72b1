/**
 * LOCAL_CACHE_SIZE_IN_BYTES: a per-process cache of keys known to be over their limit, in front of any CounterStore
 * (envoyproxy/ratelimit's freecache in `BaseRateLimiter`).
 *
 * - An op whose key is cached is answered locally: OVER_LIMIT, `fromLocalCache = true`, no increment, no call to the
 *   inner store. The reported counts are a lower bound (`limit + 1`); the real count is not fetched.
 * - Every other op of the batch goes to the inner store in one call; each verdict above its limit caches its key.
 * - An entry lives until its window ends. The key embeds the window start, so it could not match in a later window
 *   anyway; the reference keeps it for a full unit from the time it was set, this cache drops it sooner.
 * - Refunds (negative hits) always reach the inner store and uncache the key once it is back within its limit.
 *
 * Size: each entry is estimated at ENTRY_OVERHEAD_BYTES + 2 bytes per key character; when an insert would exceed
 * `maxBytes`, the oldest entries are evicted first (expired ones are the oldest, so they go first).
 */
import type { Clock, CounterStore } from "../domain/ports.js";
import type { CounterOp, Verdict } from "../domain/types.js";

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

export function createOverLimitCache(inner: CounterStore, opts: OverLimitCacheOptions): CounterStore {
  const { clock, maxBytes } = opts;
  if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive: ${maxBytes}`);
  /** key → window end (ms since the epoch); Map order is insertion order, i.e. oldest first. */
  const entries = new Map<string, number>();
  let bytes = 0;

  function isCached(key: string, nowMs: number): boolean {
    const expiresAtMs = entries.get(key);
    if (expiresAtMs === undefined) return false;
    if (expiresAtMs > nowMs) return true;
    remove(key);
    return false;
  }

  function remove(key: string): void {
    if (entries.delete(key)) bytes -= entryBytes(key);
  }

  function insert(key: string, expiresAtMs: number): void {
    const size = entryBytes(key);
    if (size > maxBytes || entries.has(key)) return;
    for (const oldest of entries.keys()) {
      if (bytes + size <= maxBytes) break;
      remove(oldest);
    }
    entries.set(key, expiresAtMs);
    bytes += size;
  }

  function record(op: CounterOp, v: Verdict | undefined, nowMs: number): void {
    if (v === undefined) return; // a store that broke its contract; the engine rejects the batch
    if (v.after > op.limit) {
      if (op.expiresAtMs > nowMs) insert(op.key, op.expiresAtMs);
    } else if (op.negative) {
      remove(op.key);
    }
  }

  return {
    async apply(ops: readonly CounterOp[]): Promise<readonly Verdict[]> {
      const nowMs = clock.nowMs();
      const n = ops.length;
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const op = ops[i] as CounterOp;
        if (!op.negative && isCached(op.key, nowMs)) hits++;
      }
      if (hits === 0) {
        const verdicts = await inner.apply(ops);
        for (let i = 0; i < n; i++) record(ops[i] as CounterOp, verdicts[i], nowMs);
        return verdicts;
      }
      const verdicts: Verdict[] = new Array(n);
      const misses: CounterOp[] = [];
      const missIndex: number[] = [];
      for (let i = 0; i < n; i++) {
        const op = ops[i] as CounterOp;
        if (!op.negative && entries.has(op.key)) {
          verdicts[i] = { before: op.limit + 1, after: op.limit + 1, fromLocalCache: true };
        } else {
          misses.push(op);
          missIndex.push(i);
        }
      }
      if (misses.length > 0) {
        const answered = await inner.apply(misses);
        for (let j = 0; j < misses.length; j++) {
          const v = answered[j];
          verdicts[missIndex[j] as number] = v as Verdict;
          record(misses[j] as CounterOp, v, nowMs);
        }
      }
      return verdicts;
    },
    close(): Promise<void> {
      entries.clear();
      bytes = 0;
      return inner.close();
    },
  };
}
