/**
 * The commands of one flush of the Redis store, in the order they must run, and the port through which they reach
 * Redis (a Sender). The store plans them (batch-plan.ts); a Sender writes them and hands back one raw reply per
 * command, in the same order, whatever the topology: resp-sender.ts writes them as one RESP string on one
 * connection (single and sentinel), pipeline-sender.ts as one ioredis pipeline per Cluster node.
 */

import type { ScriptCall } from "./limits-script.js";

/** INCRBY key n | GET key | the refund script on key with n | EXPIRE key n | the limits script (`scripts[n]`). */
export type WireKind = "incr" | "get" | "refund" | "expire" | "script";

/**
 * Parallel arrays (no object per command): command i is `kinds[i] keys[i] args[i]` (args unused for GET). For a
 * limits-script command, `keys[i]` is its first key (for Cluster routing) and `args[i]` indexes `scripts`.
 */
export interface WireBatch {
  readonly kinds: WireKind[];
  readonly keys: string[];
  readonly args: number[];
  readonly scripts: ScriptCall[];
}

export function createWireBatch(): WireBatch {
  return { kinds: [], keys: [], args: [], scripts: [] };
}

/** Adds one limits-script call. */
export function addScript(batch: WireBatch, call: ScriptCall): void {
  addCommand(batch, "script", call.keys[0] ?? "", batch.scripts.length);
  batch.scripts.push(call);
}

export function addCommand(batch: WireBatch, kind: WireKind, key: string, arg: number): void {
  batch.kinds.push(kind);
  batch.keys.push(key);
  batch.args.push(arg);
}

/**
 * One raw reply per command: what the client library decoded (a number for INCRBY and EXPIRE, a Buffer, a string
 * or null for GET, an array for the refund script), or an Error (an error reply, or the connection failed before the
 * reply came).
 */
export type RawReplies = unknown[];

/** Writes batches to one Redis deployment. */
export interface Sender {
  /**
   * Writes `batch` at once and calls `done` exactly once with one reply per command: when the last reply has come,
   * or when the connection fails (the unanswered commands then carry its error). `done` may run before `send`
   * returns when nothing could be written (every reply is then the same Error).
   */
  send(batch: WireBatch, done: (replies: RawReplies) => void): void;
}
