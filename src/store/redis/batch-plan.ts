/**
 * Turns the ops of every request gathered in one event-loop turn into as few Redis commands as possible, then turns
 * the replies back into exact per-op Verdicts. Pure: no I/O, no clock.
 *
 * Ops on one key are merged into "segments", kept in arrival order:
 * - consecutive counting ops (hits >= 0) on a key become ONE `INCRBY key sum` (a `GET key` when the sum is 0, so a
 *   check-only read never creates a key);
 * - a refund (`negative`, hits > 0) is its own segment (the refund script), and the next counting op starts a new one.
 * Redis runs one connection's commands in order, and all of a key's commands go to the same node, so each op sees
 * exactly the counter it would have seen had it been sent alone: for `INCRBY key sum` returning `r`, the op at offset
 * `o` (hits counted before it in the segment) gets `before = r - sum + o` and `after = before + hits`.
 *
 * That fast path is the lone epoch fixed window's (the reference's limits). Every other op (a descriptor with several
 * limits, the other algorithms) goes into the flush's one limits-script call (one per Cluster slot), which applies
 * them in order, each group all-or-nothing (limits-script.ts).
 */
import type { CounterOp } from "../../domain/types.js";
import { addScriptOp, createScriptCall, type ScriptCall } from "./limits-script.js";

export type SegmentKind = "incr" | "get" | "refund" | "script";

export interface Segment {
  readonly key: string;
  kind: SegmentKind;
  /** incr: sum of the segment's hits; get: 0; refund: the hits to give back. */
  total: number;
  /** Latest window end among the segment's ops (ms since the epoch); decides the key's TTL. */
  expiresAtMs: number;
  /** script: the call's keys, arguments and ops. */
  readonly call?: ScriptCall;
}

/** Whether an op takes the INCRBY/GET fast path: a lone epoch fixed window. */
export function fastPath(op: CounterOp): boolean {
  return op.limit.strategy === "fixed_window" && op.group === 1;
}

export interface BatchPlan {
  readonly segments: readonly Segment[];
  /** Per request: for op i, `refs[2i]` is its segment index and `refs[2i + 1]` its offset in that segment. */
  readonly refs: readonly (readonly number[])[];
}

/**
 * Plans one batch; `requests[r]` are the ops of one `apply()` call, in order. `slotOf` (Cluster mode) splits the
 * script ops into one call per slot; a group's keys share a slot (one hash tag), so a group is never split.
 */
export function planBatch(requests: readonly (readonly CounterOp[])[], slotOf?: (key: string) => number): BatchPlan {
  const segments: Segment[] = [];
  const lastSegmentOfKey = new Map<string, number>();
  const scriptSegments = new Map<number, number>();
  const refs: number[][] = new Array(requests.length);
  for (let r = 0; r < requests.length; r++) {
    const ops = requests[r] as readonly CounterOp[];
    const opRefs: number[] = new Array(ops.length * 2);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as CounterOp;
      if (!fastPath(op)) {
        const slot = slotOf === undefined ? 0 : slotOf(op.key);
        let index = scriptSegments.get(slot);
        if (index === undefined) {
          index = segments.length;
          scriptSegments.set(slot, index);
          segments.push({ key: op.key, kind: "script", total: 0, expiresAtMs: 0, call: createScriptCall() });
        }
        opRefs[2 * i] = index;
        opRefs[2 * i + 1] = addScriptOp((segments[index] as Segment).call as ScriptCall, op);
        continue;
      }
      const refund = op.negative && op.hits > 0;
      let index = lastSegmentOfKey.get(op.key);
      let segment = index === undefined ? undefined : segments[index];
      if (refund || segment === undefined || segment.kind === "refund") {
        index = segments.length;
        segment = { key: op.key, kind: refund ? "refund" : "get", total: 0, expiresAtMs: endMs(op) };
        segments.push(segment);
        lastSegmentOfKey.set(op.key, index);
      }
      opRefs[2 * i] = index as number;
      opRefs[2 * i + 1] = segment.total;
      if (refund) {
        segment.total = op.hits;
      } else if (op.hits > 0) {
        segment.total += op.hits;
        segment.kind = "incr";
      }
      if (endMs(op) > segment.expiresAtMs) segment.expiresAtMs = endMs(op);
    }
    refs[r] = opRefs;
  }
  return { segments, refs };
}

function endMs(op: CounterOp): number {
  return (op.windowStartSeconds + op.limit.windowSeconds) * 1000;
}

/**
 * A segment's reply, decoded: the counter after INCRBY, the value read by GET, the refund's [before, after], or the
 * limits script's two integers per op.
 */
export type SegmentValue = number | readonly number[];

/** Decodes the raw reply of a segment's command (GET: a string or a Buffer); an Error when it is not a counter. */
export function decodeReply(kind: SegmentKind, raw: unknown): SegmentValue | Error {
  if (kind === "incr") {
    return typeof raw === "number" ? raw : new Error(`unexpected INCRBY reply ${typeof raw}`);
  }
  if (kind === "get") {
    if (raw === null) return 0;
    const text = typeof raw === "string" ? raw : Buffer.isBuffer(raw) ? raw.toString("latin1") : undefined;
    if (text !== undefined && /^-?\d+$/.test(text)) return Number(text);
    return new Error("the key holds a value that is not a counter");
  }
  if (kind === "script") {
    if (Array.isArray(raw) && raw.every((x) => typeof x === "number")) return raw as number[];
    return new Error("unexpected limits script reply");
  }
  if (Array.isArray(raw) && raw.length === 2 && typeof raw[0] === "number" && typeof raw[1] === "number") {
    return [raw[0], raw[1]];
  }
  return new Error("unexpected refund reply");
}

/**
 * The state one fast-path op saw (the fixed window's counter before it): what `fixedWindow.step` reads to compute
 * the op's outcome, exactly as the memory store would.
 */
export function stateBefore(segment: Segment, value: SegmentValue, offset: number): number {
  if (typeof value !== "number") return value[0] as number;
  if (segment.kind === "get") return value;
  return value - segment.total + offset;
}

/**
 * True when an INCRBY reply shows this command created the key (the counter equals what was just added), so the key
 * has no TTL yet and this process must set one. Every other INCRBY leaves the TTL alone: one EXPIRE per key and
 * window instead of the reference's EXPIRE on every hit.
 */
export function createdKey(segment: Segment, value: SegmentValue): boolean {
  return segment.kind === "incr" && value === segment.total;
}
