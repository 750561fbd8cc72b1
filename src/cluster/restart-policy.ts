/**
 * When the supervisor replaces a worker that died, and when it stops trying. Pure (time comes in as an argument) so
 * the schedule is unit-tested without processes or timers.
 *
 * - Every unexpected exit is restarted after an exponential delay that grows with the number of exits in the recent
 *   window (`baseDelayMs`, doubled per recent exit, capped at `maxDelayMs`): one crash is replaced at once, a
 *   crash loop is slowed down instead of spinning the CPU and flooding the log.
 * - A worker that dies before it ever reported ready is a startup failure. Bad settings never get that far (the
 *   primary validates them first), so what remains is an environment problem such as a port already in use: after
 *   `maxStartupFailures` in a row with no worker becoming ready in between, and no other worker serving, the
 *   supervisor gives up and the process exits non-zero, so an orchestrator sees a failed start instead of a service
 *   that never comes up.
 * - While any other worker serves, nothing is given up: killing healthy workers because a replacement fails would
 *   turn a partial outage into a full one. Only the delay grows.
 */

export interface RestartPolicyOptions {
  /** Delay before replacing the first worker that died in a quiet period. */
  readonly baseDelayMs: number;
  /** Upper bound of the delay however many workers died recently. */
  readonly maxDelayMs: number;
  /** Exits older than this no longer lengthen the delay. */
  readonly windowMs: number;
  /** Consecutive startup failures (no worker ready in between) after which the supervisor gives up. */
  readonly maxStartupFailures: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = Object.freeze({
  baseDelayMs: 100,
  maxDelayMs: 10_000,
  windowMs: 60_000,
  maxStartupFailures: 5,
});

export interface WorkerExit {
  /** Whether the worker that exited had finished starting. */
  readonly wasReady: boolean;
  /** Whether some other worker is ready and serving right now. */
  readonly othersServing: boolean;
}

export type RestartDecision =
  | { readonly action: "restart"; readonly delayMs: number }
  | { readonly action: "give-up"; readonly startupFailures: number };

export interface RestartPolicy {
  /** A worker reported ready: startup works, so consecutive startup failures start again from zero. */
  ready(): void;
  /** A worker exited unexpectedly at `nowMs`. */
  exited(nowMs: number, exit: WorkerExit): RestartDecision;
}

export function createRestartPolicy(options: RestartPolicyOptions = DEFAULT_RESTART_POLICY): RestartPolicy {
  let exits: number[] = [];
  let startupFailures = 0;
  return {
    ready() {
      startupFailures = 0;
    },
    exited(nowMs, { wasReady, othersServing }) {
      if (!wasReady) {
        startupFailures += 1;
        if (startupFailures >= options.maxStartupFailures && !othersServing) {
          return { action: "give-up", startupFailures };
        }
      }
      exits = exits.filter((t) => nowMs - t < options.windowMs);
      exits.push(nowMs);
      const delayMs = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (exits.length - 1));
      return { action: "restart", delayMs };
    },
  };
}
