/**
 * In-process CounterStore (BACKEND_TYPE=memory): every algorithm, exact and atomic, with bounded memory.
 *
 * Atomicity: `apply()` performs every read-modify-write of a batch synchronously, before returning its (already
 * resolved) promise, so on Node's single thread no other request can interleave: 1,000 concurrent calls on one key
 * see the counts 1..1000 exactly once each, and a descriptor's limits are applied all-or-nothing. Counts are exact
 * per process; with several worker processes each key must be owned by one process.
 *
 * Layout: one Map from key to state. A plain counter (fixed and sliding windows) is a number whose lifetime is fixed
 * when it is created (its window's end); a record (token/leaky bucket, first-hit window) is a small object whose
 * expiry moves with its state. Every key is registered in an expiry wheel (expiry-wheel.ts) under the second it
 * expires, so reclaiming idle keys costs O(1) per key with no timer; a record whose expiry moved is re-registered
 * when its old second comes.
 *
 * Hard cap: at most `maxKeys` live keys (default 1,000,000). When a new key would exceed it, the store evicts the
 * key registered under the soonest expiry (the state closest to being discarded anyway), in O(1). An evicted key
 * restarts fresh if it is hit again, so under a cardinality attack the cap trades exactness of the oldest keys
 * (fail-open for them) for a hard memory bound. Reads (hits 0) and refunds never create keys.
 *
 * Note: a key is identified by its text, as in the reference's Redis: two units whose windows start at the same
 * second for one descriptor share a counter there too.
 */
import { evaluateOps, memoryAccess, type StateAccess } from "../algorithms/index.js";
import type { MemoryCells, MemoryRecord } from "../algorithms/strategy.js";
import type { Clock, CounterStore } from "../domain/ports.js";
import type { CounterOp, Outcome } from "../domain/types.js";
import { createExpiryWheel } from "./expiry-wheel.js";

/** Default bound on live keys. */
export const DEFAULT_MAX_KEYS = 1_000_000;

export interface MemoryStoreOptions {
  readonly clock: Clock;
  /** Hard cap on live keys (>= 1). Defaults to DEFAULT_MAX_KEYS. */
  readonly maxKeys?: number;
}

export interface MemoryStore extends CounterStore {
  /** Live keys currently held (expired ones are dropped lazily, on the next apply()). */
  readonly size: number;
  /** Keys evicted by the cap so far. */
  readonly evictions: number;
  /**
   * Expiry-wheel entries examined to find those evictions (stale registrations are skipped). Stays within a small
   * constant times `evictions` however many keys were evicted before: eviction is O(1) per key.
   */
  readonly evictionSteps: number;
}

class Rec implements MemoryRecord {
  constructor(
    public a: number,
    public b: number,
    public expiresAtSec: number,
    /** The second this record is registered under in the wheel. */
    public wheelSec: number,
  ) {}
}

export function createMemoryStore(opts: MemoryStoreOptions): MemoryStore {
  const clock = opts.clock;
  const maxKeys = opts.maxKeys ?? DEFAULT_MAX_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer: ${maxKeys}`);
  const index = new Map<string, number | Rec>();
  const wheel = createExpiryWheel();
  let evictions = 0;
  let evictionSteps = 0;
  let nowSec = 0;

  /** Drops keys whose second has come; a record whose expiry moved later is registered again. */
  function sweep(): void {
    for (let e = wheel.takeExpired(nowSec); e !== undefined; e = wheel.takeExpired(nowSec)) {
      const v = index.get(e.key);
      if (v === undefined) continue;
      if (typeof v === "number") {
        index.delete(e.key);
      } else if (v.wheelSec === e.endSec) {
        if (v.expiresAtSec <= nowSec) {
          index.delete(e.key);
        } else {
          v.wheelSec = v.expiresAtSec;
          wheel.add(e.key, v.expiresAtSec);
        }
      }
    }
  }

  /** Makes room for one new key: evicts the live key registered under the soonest second. */
  function makeRoom(): void {
    while (index.size >= maxKeys) {
      const e = wheel.take();
      if (e === undefined) return;
      evictionSteps++;
      const v = index.get(e.key);
      if (v === undefined || (typeof v !== "number" && v.wheelSec !== e.endSec)) continue;
      index.delete(e.key);
      evictions++;
    }
  }

  const cells: MemoryCells = {
    count(key: string): number {
      const v = index.get(key);
      return typeof v === "number" ? v : 0;
    },
    setCount(key: string, value: number, expiresAtSec: number): void {
      if (value === 0) {
        index.delete(key);
        return;
      }
      if (!index.has(key)) {
        makeRoom();
        key.charCodeAt(0); // flattens a rope key so the stored key is compact (see engine/cache-key.ts flatten)
        wheel.add(key, expiresAtSec);
      }
      index.set(key, value);
    },
    record(key: string): MemoryRecord | undefined {
      const v = index.get(key);
      return v === undefined || typeof v === "number" ? undefined : v;
    },
    setRecord(key: string, a: number, b: number, expiresAtSec: number): void {
      const v = index.get(key);
      if (v !== undefined && typeof v !== "number") {
        v.a = a;
        v.b = b;
        v.expiresAtSec = expiresAtSec;
        return;
      }
      makeRoom();
      key.charCodeAt(0);
      wheel.add(key, expiresAtSec);
      index.set(key, new Rec(a, b, expiresAtSec, expiresAtSec));
    },
    remove(key: string): void {
      index.delete(key);
    },
  };
  const access: StateAccess = memoryAccess(cells);

  return {
    get size(): number {
      return index.size;
    },
    get evictions(): number {
      return evictions;
    },
    get evictionSteps(): number {
      return evictionSteps;
    },
    apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]> {
      nowSec = Math.floor(clock.nowMs() / 1000);
      if (nowSec >= wheel.soonest()) sweep();
      const outcomes: Outcome[] = new Array(ops.length);
      evaluateOps(ops, access, outcomes);
      return Promise.resolve(outcomes);
    },
    close(): Promise<void> {
      index.clear();
      wheel.clear();
      return Promise.resolve();
    },
  };
}
