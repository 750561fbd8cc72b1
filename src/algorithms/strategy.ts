/**
 * The contract every algorithm module implements. A module owns, for its strategy:
 * - the pure `step`: the specification of the algorithm (every store mirrors it exactly);
 * - how its state lives in the memory store (`load` / `save` over MemoryCells);
 * - its Redis mirror (algorithms/redis/*): the Lua fragment that repeats `step`'s admission and state update
 *   atomically, and how a reply decodes back into the state `step` reads.
 * Nobody outside algorithms/ interprets counts: the engine, the local cache, stop-at-limit and the failure policy
 * read the Outcome.
 */
import type { CounterOp, Outcome } from "../domain/types.js";

/** The result of one step. */
export interface StepResult<S> {
  readonly outcome: Outcome;
  /** The state after the op when it is applied; undefined = no state (a fresh key). */
  readonly next: S | undefined;
  /**
   * For an op alone (a descriptor with one limit): whether the store writes `next`. True when the op was admitted,
   * and also when it was not for count-always limits (the reference's fixed window) and budgets.
   */
  readonly write: boolean;
}

/** A counter or record as the memory store holds it. */
export interface MemoryRecord {
  a: number;
  b: number;
  /** When the record may be dropped, in Unix seconds (updated by save). */
  expiresAtSec: number;
}

/** The memory store's cells, as the algorithm modules address them. */
export interface MemoryCells {
  /** A plain counter whose lifetime is fixed when it is created; 0 when absent. */
  count(key: string): number;
  /** Sets a counter; 0 deletes it. `expiresAtSec` is used when the key is created. */
  setCount(key: string, value: number, expiresAtSec: number): void;
  /** A record whose expiry moves with its state, or undefined. */
  record(key: string): MemoryRecord | undefined;
  /** Creates or updates a record. */
  setRecord(key: string, a: number, b: number, expiresAtSec: number): void;
  remove(key: string): void;
}

export interface StrategyModule<S> {
  /** The op's store keys (Redis KEYS, memory cells), derived from `op.key` and its window. */
  keys(op: CounterOp): readonly string[];
  /**
   * Pure: the op applied to `state` (undefined = fresh key). With `apply` false, the outcome of NOT applying the
   * op (consumed 0, remaining from `state`), `admitted` still saying whether it would pass; used for the members
   * of an all-or-nothing group that another limit rejected.
   */
  step(state: S | undefined, op: CounterOp, apply: boolean): StepResult<S>;
  /** Reads the op's state from the memory store. */
  load(cells: MemoryCells, op: CounterOp): S | undefined;
  /** Writes the op's next state to the memory store (undefined deletes). */
  save(cells: MemoryCells, op: CounterOp, next: S | undefined): void;
}

/** Builds an Outcome (one shape for every algorithm, so the engine's reads stay monomorphic). */
export function outcome(
  admitted: boolean,
  remaining: number,
  retryAfterMs: number,
  resetAfterMs: number,
  consumed: number,
  used: number,
): Outcome {
  return { admitted, remaining, retryAfterMs, resetAfterMs, consumed, used, fromLocalCache: false };
}
