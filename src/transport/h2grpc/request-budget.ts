/**
 * Bounds on what unfinished requests may hold: a call is "reading" from its HEADERS until its END_STREAM, and only
 * then does it run. A client that opens streams, sends a message and never ends them (or dribbles bytes) would
 * otherwise pin one call object, its stream and its buffered bytes per stream for as long as the connection lives
 * (issue 12: 300 connections x 1,000 such streams took RSS from 0.75 to 1.9 GB). Four bounds, all answered with a
 * gRPC status the client can act on:
 *
 * - read timeout: a request not complete `readTimeoutMs` after its HEADERS is answered DEADLINE_EXCEEDED;
 * - bytes per connection: a call whose DATA takes its connection's unfinished bytes past the cap is answered
 *   RESOURCE_EXHAUSTED (the other calls of the connection go on);
 * - bytes and calls per process: past either cap the OLDEST unfinished call is answered RESOURCE_EXHAUSTED, not the
 *   new one. A valid request completes within microseconds of its HEADERS, so the oldest unfinished calls are the
 *   ones that are never going to finish, and a flood of them cannot starve new valid calls.
 *
 * Streams per connection are bounded by SETTINGS_MAX_CONCURRENT_STREAMS. A connection holding
 * `pauseAtCallsPerConnection` requests unfinished for over 200 ms, or four times that many at all, gets a SETTINGS
 * frame lowering its limit to `pauseAtCallsPerConnection` until half of those have finished or been answered: nghttp2 then refuses further streams
 * (REFUSED_STREAM, which gRPC clients retry) before they cost a JavaScript object, so a flood of unfinished streams
 * costs the event loop little while valid connections are served. Valid calls never trigger it: their requests end
 * within milliseconds, however many are in flight.
 * The hot path cost is a link and an unlink in an age-ordered list threaded through the calls themselves (no Set,
 * whose table churn showed as garbage collection at 20,000 calls per second) and one clock read per call; the sweep
 * timer runs only while some call is reading.
 */
import type { Http2Session } from "node:http2";

export interface RequestBudgetLimits {
  /** A request must be complete (END_STREAM) this long after its HEADERS. */
  readonly readTimeoutMs: number;
  /** Unfinished request bytes one connection may hold. */
  readonly maxBytesPerConnection: number;
  /** Unfinished request bytes the process may hold. */
  readonly maxBytesTotal: number;
  /** Unfinished requests the process may hold. */
  readonly maxCallsTotal: number;
  /** Unfinished requests of one connection at which reading from it pauses (resumes at half). */
  readonly pauseAtCallsPerConnection: number;
}

/** An unfinished request this old is not a valid one still arriving (those end within the same read). */
const STALE_MS = 200;

export const DEFAULT_REQUEST_BUDGET: RequestBudgetLimits = Object.freeze({
  readTimeoutMs: 10_000,
  maxBytesPerConnection: 16 * 1024 * 1024,
  maxBytesTotal: 64 * 1024 * 1024,
  maxCallsTotal: 10_000,
  pauseAtCallsPerConnection: 64,
});

/** What the budget needs from a call that is reading its request. */
export interface ReadingCall {
  /** When the HEADERS arrived, on the budget's clock. */
  readonly readStartMs: number;
  /** The connection's ledger. */
  readonly ledger: ConnectionLedger;
  /** Bytes of the request buffered so far. */
  readonly bufferedBytes: number;
  /** Answer the call (and so release it) because a bound was hit. */
  shed(reason: "timeout" | "memory"): void;
  /** The budget's links (its age-ordered list of reading calls); the call only initializes them. */
  older: ReadingCall | undefined;
  newer: ReadingCall | undefined;
  reading: boolean;
}

/** Unfinished bytes and requests of one connection. */
export interface ConnectionLedger {
  bytes: number;
  /** Calls still reading their request. */
  calls: number;
  /** Calls not answered yet, reading or running (kept by the calls; shutdown waits for them). */
  inFlight: number;
  /** The connection's stream limit is lowered. */
  paused: boolean;
  readonly session: Http2Session;
}

export interface RequestBudget {
  /** The ledger of `session`, created on first use. */
  ledgerOf(session: Http2Session): ConnectionLedger;
  /** A call starts reading. May shed older calls when the process is at its call cap. */
  open(call: ReadingCall): void;
  /**
   * `bytes` more arrived for `call`. Returns false when the call's own connection is over its cap (the caller
   * answers it); sheds the oldest calls when the process is over its byte cap.
   */
  grow(call: ReadingCall, bytes: number): boolean;
  /** The call stopped reading (complete, answered or cancelled). Idempotent. */
  release(call: ReadingCall): void;
  /** Unfinished calls and bytes now (tests, diagnostics). */
  readonly calls: number;
  readonly bytes: number;
  now(): number;
  /** Stops the sweep timer. */
  clear(): void;
}

/** Creates the budget. `now` defaults to the monotonic `performance.now()`. */
export function createRequestBudget(
  limits: RequestBudgetLimits = DEFAULT_REQUEST_BUDGET,
  now: () => number = () => performance.now(),
  /** The connection's normal SETTINGS_MAX_CONCURRENT_STREAMS, restored once it has few unfinished requests. */
  maxConcurrentStreams = 1_000,
): RequestBudget {
  /** The reading calls, oldest first: a list threaded through the calls (`older`, `newer`). */
  let oldest: ReadingCall | undefined;
  let newest: ReadingCall | undefined;
  let count = 0;
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const sweepEveryMs = Math.max(10, Math.min(STALE_MS / 4, Math.floor(limits.readTimeoutMs / 4)));

  const resumeAt = Math.max(1, Math.floor(limits.pauseAtCallsPerConnection / 2));
  const release = (call: ReadingCall): void => {
    if (!call.reading) return;
    call.reading = false;
    const { older, newer } = call;
    if (older === undefined) oldest = newer;
    else older.newer = newer;
    if (newer === undefined) newest = older;
    else newer.older = older;
    call.older = undefined;
    call.newer = undefined;
    count--;
    const ledger = call.ledger;
    ledger.bytes -= call.bufferedBytes;
    bytes -= call.bufferedBytes;
    ledger.calls--;
    if (ledger.paused && ledger.calls <= resumeAt) {
      ledger.paused = false;
      streamLimit(ledger.session, maxConcurrentStreams);
    }
  };
  const shed = (call: ReadingCall, reason: "timeout" | "memory"): void => {
    call.shed(reason);
    release(call); // a no-op when shed() released it already
  };
  const sweep = (): void => {
    const t = now();
    const cutoff = t - limits.readTimeoutMs;
    const staleBefore = t - STALE_MS;
    const stale = new Map<ConnectionLedger, number>();
    for (let call = oldest; call !== undefined; ) {
      if (call.readStartMs > staleBefore) break; // age order: the rest are younger
      const next = call.newer;
      if (call.readStartMs <= cutoff) {
        shed(call, "timeout");
        call = next;
        continue;
      }
      const ledger = call.ledger;
      const n = (stale.get(ledger) ?? 0) + 1;
      stale.set(ledger, n);
      if (n >= limits.pauseAtCallsPerConnection && !ledger.paused) {
        ledger.paused = true;
        streamLimit(ledger.session, limits.pauseAtCallsPerConnection);
      }
      call = next;
    }
    if (count === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const shedOldest = (except: ReadingCall): void => {
    for (let call = oldest; call !== undefined; ) {
      if (bytes <= limits.maxBytesTotal && count <= limits.maxCallsTotal) return;
      const next = call.newer;
      if (call !== except) shed(call, "memory");
      call = next;
    }
  };

  return {
    ledgerOf(session) {
      // Kept on the session itself: one property read per call instead of a WeakMap lookup.
      const holder = session as Http2Session & { [LEDGER]?: ConnectionLedger };
      let ledger = holder[LEDGER];
      if (ledger === undefined) {
        ledger = { bytes: 0, calls: 0, inFlight: 0, paused: false, session };
        holder[LEDGER] = ledger;
      }
      return ledger;
    },
    open(call) {
      call.reading = true;
      call.older = newest;
      call.newer = undefined;
      if (newest === undefined) oldest = call;
      else newest.newer = call;
      newest = call;
      count++;
      const ledger = call.ledger;
      // Far more unfinished requests than any valid burst leaves between two reads: limit the connection at once.
      if (++ledger.calls >= 4 * limits.pauseAtCallsPerConnection && !ledger.paused) {
        ledger.paused = true;
        streamLimit(ledger.session, limits.pauseAtCallsPerConnection);
      }
      if (count > limits.maxCallsTotal) shedOldest(call);
      if (timer === undefined) {
        timer = setInterval(sweep, sweepEveryMs);
        timer.unref();
      }
    },
    grow(call, n) {
      call.ledger.bytes += n;
      bytes += n;
      if (call.ledger.bytes > limits.maxBytesPerConnection) return false;
      if (bytes > limits.maxBytesTotal) shedOldest(call);
      return bytes <= limits.maxBytesTotal;
    },
    release,
    get calls() {
      return count;
    },
    get bytes() {
      return bytes;
    },
    now,
    clear() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}

const LEDGER: unique symbol = Symbol("request budget ledger");

/** Sends SETTINGS_MAX_CONCURRENT_STREAMS; a session that is going away is left alone. */
function streamLimit(session: Http2Session, maxConcurrentStreams: number): void {
  if (session.destroyed || session.closed) return;
  try {
    session.settings({ maxConcurrentStreams });
  } catch {
    // too many unacknowledged SETTINGS (a peer that never acknowledges): the byte and call caps still hold
  }
}
