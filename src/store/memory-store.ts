/**
 * In-process CounterStore (BACKEND_TYPE=memory): exact and atomic, with bounded memory.
 *
 * Atomicity: `apply()` performs every read-modify-write of a batch synchronously, before returning its (already
 * resolved) promise, so on Node's single thread no other request can interleave: 1,000 concurrent calls on one key
 * see the counts 1..1000 exactly once each. Counts are exact per process; with several worker processes each key
 * must be owned by one process.
 *
 * Memory: counters are grouped by the second their window ends, `Map<windowEndSec, Map<key, count>>`. A key's bucket
 * comes from the op itself (`windowStartSeconds + windowSeconds`), so lookups need no global index, and when a window
 * ends its whole bucket is dropped at once: reclaiming expired windows is O(1) amortised, with no timer per key. Per
 * live key the cost is one Map entry plus the key string (about 100 bytes for a typical 40-character key).
 *
 * Hard cap: at most `maxKeys` live keys (default 1,000,000). When a new key would exceed it, the store evicts the
 * oldest-inserted key of the soonest-ending window first (the counter closest to being discarded anyway). An evicted
 * counter restarts from 0 if it is hit again, so under a cardinality attack the cap trades exactness of the
 * oldest keys (fail-open for them) for a hard memory bound. Reads (hits 0) and refunds never create keys.
 *
 * Note: a key is identified by its text and its window end. The reference's Redis would let two units whose windows
 * happen to start at the same second share one key; here they stay separate counters.
 */
import { applyStep } from "../algorithms/index.js";
import type { Clock, CounterStore } from "../domain/ports.js";
import type { CounterOp, Verdict } from "../domain/types.js";

/** Default bound on live keys; 1M keys stay well under 200 MB RSS. */
export const DEFAULT_MAX_KEYS = 1_000_000;

export interface MemoryStoreOptions {
  readonly clock: Clock;
  /** Hard cap on live keys (>= 1). Defaults to DEFAULT_MAX_KEYS. */
  readonly maxKeys?: number;
}

export interface MemoryStore extends CounterStore {
  /** Live keys currently held (expired windows are dropped lazily, on the next apply()). */
  readonly size: number;
}

type Bucket = Map<string, number>;

export function createMemoryStore(opts: MemoryStoreOptions): MemoryStore {
  const clock = opts.clock;
  const maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer: ${maxKeys}`);
  const buckets = new Map<number, Bucket>();
  let size = 0;
  /** Smallest window end held, +Infinity when empty; lets apply() skip the sweep with one comparison. */
  let nextExpirySec = Number.POSITIVE_INFINITY;
  // One-entry cache of the last bucket used: a hot key's window is almost always the previous op's.
  let lastEndSec = -1;
  let lastBucket: Bucket | undefined;

  function sweep(nowSec: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [endSec, bucket] of buckets) {
      if (endSec <= nowSec) {
        size -= bucket.size;
        buckets.delete(endSec);
      } else if (endSec < next) {
        next = endSec;
      }
    }
    nextExpirySec = next;
    lastEndSec = -1;
    lastBucket = undefined;
  }

  function bucketFor(endSec: number, create: boolean): Bucket | undefined {
    if (endSec === lastEndSec) return lastBucket;
    let bucket = buckets.get(endSec);
    if (bucket === undefined) {
      if (!create) return undefined;
      bucket = new Map();
      buckets.set(endSec, bucket);
      if (endSec < nextExpirySec) nextExpirySec = endSec;
    }
    lastEndSec = endSec;
    lastBucket = bucket;
    return bucket;
  }

  /** Evicts one key from the soonest-ending window (oldest insertion first). */
  function evictOne(): void {
    let soonest = Number.POSITIVE_INFINITY;
    for (const endSec of buckets.keys()) if (endSec < soonest) soonest = endSec;
    const bucket = buckets.get(soonest);
    if (bucket === undefined) return;
    const victim = bucket.keys().next();
    if (!victim.done) {
      bucket.delete(victim.value);
      size--;
    }
    if (bucket.size === 0) {
      buckets.delete(soonest);
      if (lastBucket === bucket) {
        lastEndSec = -1;
        lastBucket = undefined;
      }
      nextExpirySec = soonest === nextExpirySec ? minKey(buckets) : nextExpirySec;
    }
  }

  function applyOne(op: CounterOp): Verdict {
    const endSec = op.windowStartSeconds + op.windowSeconds;
    const mutates = op.hits > 0 && !op.negative;
    const existing = bucketFor(endSec, false);
    const before = existing?.get(op.key) ?? 0;
    const verdict = applyStep(before, op);
    if (verdict.after === before) return verdict;
    if (verdict.after === 0) {
      // A refund down to zero: drop the key rather than keep a zero counter.
      existing?.delete(op.key);
      size--;
      return verdict;
    }
    let bucket = existing;
    if (mutates && before === 0) {
      if (size >= maxKeys) evictOne();
      op.key.charCodeAt(0); // flattens a rope key so the stored key is compact (see engine/cache-key.ts flatten)
      bucket = bucketFor(endSec, true) as Bucket;
      size++;
    }
    bucket?.set(op.key, verdict.after);
    return verdict;
  }

  return {
    get size(): number {
      return size;
    },
    apply(ops: readonly CounterOp[]): Promise<readonly Verdict[]> {
      const nowSec = Math.floor(clock.nowMs() / 1000);
      if (nowSec >= nextExpirySec) sweep(nowSec);
      const n = ops.length;
      const verdicts: Verdict[] = new Array(n);
      for (let i = 0; i < n; i++) verdicts[i] = applyOne(ops[i] as CounterOp);
      return Promise.resolve(verdicts);
    },
    close(): Promise<void> {
      buckets.clear();
      size = 0;
      nextExpirySec = Number.POSITIVE_INFINITY;
      lastEndSec = -1;
      lastBucket = undefined;
      return Promise.resolve();
    },
  };
}

function minKey(buckets: ReadonlyMap<number, Bucket>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const k of buckets.keys()) if (k < min) min = k;
  return min;
}
