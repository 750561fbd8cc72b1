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
 */
import type { CounterOp, Verdict } from "../../domain/types.js";

export type SegmentKind = "incr" | "get" | "refund";

export interface Segment {
  readonly key: string;
  kind: SegmentKind;
  /** incr: sum of the segment's hits; get: 0; refund: the hits to give back. */
  total: number;
  /** Latest window end among the segment's ops (ms since the epoch); decides the key's TTL. */
  expiresAtMs: number;
}

export interface BatchPlan {
  readonly segments: readonly Segment[];
  /** Per request: for op i, `refs[2i]` is its segment index and `refs[2i + 1]` its offset in that segment. */
  readonly refs: readonly (readonly number[])[];
}

/** Plans one batch; `requests[r]` are the ops of one `apply()` call, in order. */
export function planBatch(requests: readonly (readonly CounterOp[])[]): BatchPlan {
  const segments: Segment[] = [];
  const lastSegmentOfKey = new Map<string, number>();
  const refs: number[][] = new Array(requests.length);
  for (let r = 0; r < requests.length; r++) {
    const ops = requests[r] as readonly CounterOp[];
    const opRefs: number[] = new Array(ops.length * 2);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as CounterOp;
      const refund = op.negative && op.hits > 0;
      let index = lastSegmentOfKey.get(op.key);
      let segment = index === undefined ? undefined : segments[index];
      if (refund || segment === undefined || segment.kind === "refund") {
        index = segments.length;
        segment = { key: op.key, kind: refund ? "refund" : "get", total: 0, expiresAtMs: op.expiresAtMs };
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
      if (op.expiresAtMs > segment.expiresAtMs) segment.expiresAtMs = op.expiresAtMs;
    }
    refs[r] = opRefs;
  }
  return { segments, refs };
}

/** A segment's reply, decoded: the counter after INCRBY, the value read by GET, or the refund's [before, after]. */
export type SegmentValue = number | readonly [number, number];

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
  if (Array.isArray(raw) && raw.length === 2 && typeof raw[0] === "number" && typeof raw[1] === "number") {
    return [raw[0], raw[1]];
  }
  return new Error("unexpected refund reply");
}

/** The Verdict of one op of a segment, from the segment's decoded reply. */
export function verdictOf(segment: Segment, value: SegmentValue, offset: number, op: CounterOp): Verdict {
  if (typeof value !== "number") return { before: value[0], after: value[1], fromLocalCache: false };
  if (segment.kind === "get") return { before: value, after: value, fromLocalCache: false };
  const before = value - segment.total + offset;
  const hits = op.negative ? 0 : op.hits;
  return { before, after: before + hits, fromLocalCache: false };
}

/**
 * True when an INCRBY reply shows this command created the key (the counter equals what was just added), so the key
 * has no TTL yet and this process must set one. Every other INCRBY leaves the TTL alone: one EXPIRE per key and
 * window instead of the reference's EXPIRE on every hit.
 */
export function createdKey(segment: Segment, value: SegmentValue): boolean {
  return segment.kind === "incr" && value === segment.total;
}
