/**
 * REDIS_TIMEOUT for the batches of one Redis store: when an unanswered batch fails, and when later calls are refused
 * because Redis has stopped answering. The timeout is meant to measure Redis, not this process:
 * - the timer only arms a check that runs after the event loop's next poll of the sockets, so a reply that arrived
 *   while the process was busy is read before anything is decided;
 * - a check that runs more than half a timeout after the deadline (a GC pause, a long loop turn under saturation),
 *   or that finds Redis answered an earlier batch after this one's deadline (Redis is alive, and this batch's reply
 *   is next on the connection), gives the batch one more period instead of failing it;
 * - after a batch has failed, new calls are refused (rather than queued behind it) only until that batch is
 *   answered, and at most for the stall timeout after which the connection is replaced anyway. The store asks for
 *   refusals where it flushes, after the sockets were read, so one late reply never turns into a burst of them.
 * Measured at saturation with REDIS_TIMEOUT=10ms (BENCHMARKS.md): the timeouts that remained were Redis answering
 * nothing at all for 10-22 ms, not lag in this process.
 */
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { StoreUnavailableError } from "../../domain/errors.js";
import type { RedisEndpointSettings } from "../../settings/redis-settings.js";
import { stallTimeoutMs } from "./client-options.js";

export const PENDING = 0;
export const ANSWERED = 1;
export const TIMED_OUT = 2;

/** The timeout state the timer keeps on each batch (initialise with `PENDING`, 0 and undefined). */
export interface TimedBatch {
  state: typeof PENDING | typeof ANSWERED | typeof TIMED_OUT;
  sentAt: number;
  firedAt: number;
  rearmed: boolean;
  timer: NodeJS.Timeout | undefined;
}

export interface BatchTimer<B extends TimedBatch> {
  /** Starts the batch's timeout; call right before writing it. */
  arm(batch: B): void;
  /** Stops the timeout; true when the batch had already timed out (its callers were answered by `onTimeout`). */
  answered(batch: B): boolean;
  /** While a timed-out batch is still unanswered (bounded by the stall timeout): the error new calls get. */
  stallRefusal(): StoreUnavailableError | undefined;
}

/** Creates the timer of one store; `onTimeout` answers a failed batch's callers (called at most once per batch). */
export function createBatchTimer<B extends TimedBatch>(
  endpoint: RedisEndpointSettings,
  log: Logger,
  onTimeout: (batch: B, err: StoreUnavailableError) => void,
): BatchTimer<B> {
  const timeoutMs = endpoint.timeoutMs;
  const stallMs = stallTimeoutMs(endpoint);
  let stalled = 0;
  let stalledSince = 0;
  let inFlight = 0;
  let lastAnswerAt = 0;

  const check = (batch: B): void => {
    if (batch.state !== PENDING) return;
    const now = performance.now();
    const deadline = batch.sentAt + timeoutMs;
    // Our own loop was busy (GC, a long turn): a reply that came in meanwhile may not have been polled yet.
    const loopLate = now - deadline > timeoutMs / 2;
    // Redis answered an earlier batch after this one's deadline: it is alive and this batch's reply is next in line.
    const stillAnswering = lastAnswerAt > deadline;
    if (!batch.rearmed && (loopLate || stillAnswering)) {
      batch.rearmed = true;
      batch.timer = setTimeout(fired, timeoutMs, batch);
      return;
    }
    batch.state = TIMED_OUT;
    stalled++;
    stalledSince = now;
    if (log.isLevelEnabled("debug")) {
      const diagnostics = {
        waitedMs: Math.round(now - batch.sentAt),
        timerLateMs: Math.round(batch.firedAt - deadline),
        sinceLastAnswerMs: Math.round(now - lastAnswerAt),
        rearmed: batch.rearmed,
        inFlight,
      };
      log.debug(diagnostics, "redis batch timed out");
    }
    onTimeout(
      batch,
      new StoreUnavailableError(`redis ${endpoint.target} did not answer within ${timeoutMs} ms`, {
        reason: "timeout",
      }),
    );
  };
  // setImmediate runs the check after this loop turn's poll phase: replies already in the socket are read first.
  const fired = (batch: B): void => {
    batch.firedAt = performance.now();
    setImmediate(check, batch);
  };

  return {
    arm(batch: B): void {
      inFlight++;
      batch.sentAt = performance.now();
      batch.timer = setTimeout(fired, timeoutMs, batch);
    },
    answered(batch: B): boolean {
      if (batch.timer !== undefined) {
        clearTimeout(batch.timer);
        inFlight--;
        lastAnswerAt = performance.now();
      }
      const late = batch.state === TIMED_OUT;
      if (late) stalled--;
      batch.state = ANSWERED;
      return late;
    },
    stallRefusal(): StoreUnavailableError | undefined {
      if (stalled > 0 && performance.now() - stalledSince < stallMs) {
        return new StoreUnavailableError(`redis ${endpoint.target} has not answered earlier commands`, {
          reason: "timeout",
        });
      }
      return undefined;
    },
  };
}
