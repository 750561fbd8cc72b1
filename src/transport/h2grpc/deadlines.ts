/**
 * `grpc-timeout` deadlines for every open call with one timer, not one per call. Envoy sends a timeout on every
 * rate-limit call (20 ms by default) and nearly all of them finish long before it, so a per-call setTimeout and
 * clearTimeout would be pure overhead on the hot path. Here a call costs a Set insert and delete; the single timer
 * is armed for the earliest pending deadline and, when it fires, expires what is due and re-arms for the next.
 */

/** A call with a deadline, on the `performance.now()` clock. */
export interface Expirable {
  readonly deadlineMs: number;
  /** Called once, when the deadline passes before the call was removed. */
  expire(): void;
}

export interface DeadlineTracker {
  add(item: Expirable): void;
  /** No-op for an item that is not tracked (already expired, or never added). */
  delete(item: Expirable): void;
  /** Current time on the deadline clock. */
  now(): number;
  /** Stops the timer; pending items are dropped without expiring. */
  clear(): void;
}

/** setTimeout's largest delay; later deadlines are re-checked when the timer fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Creates the tracker. `now` defaults to the monotonic `performance.now()`. */
export function createDeadlineTracker(now: () => number = () => performance.now()): DeadlineTracker {
  const pending = new Set<Expirable>();
  let timer: NodeJS.Timeout | undefined;
  let armedFor = Number.POSITIVE_INFINITY;

  const arm = (at: number): void => {
    if (timer !== undefined) clearTimeout(timer);
    armedFor = at;
    timer = setTimeout(sweep, Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(at - now()))));
    timer.unref();
  };

  function sweep(): void {
    timer = undefined;
    armedFor = Number.POSITIVE_INFINITY;
    const t = now();
    let next = Number.POSITIVE_INFINITY;
    for (const item of pending) {
      if (item.deadlineMs <= t) {
        pending.delete(item);
        item.expire();
      } else if (item.deadlineMs < next) {
        next = item.deadlineMs;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) arm(next);
  }

  return {
    add(item) {
      pending.add(item);
      if (item.deadlineMs < armedFor) arm(item.deadlineMs);
    },
    delete(item) {
      pending.delete(item);
    },
    now,
    clear() {
      pending.clear();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      armedFor = Number.POSITIVE_INFINITY;
    },
  };
}
