/**
 * waitUntilAllowed: the provider-quota pattern ("replicate 50/min: wait, then call"). Each attempt counts a hit; a
 * limited attempt sleeps the retry time Sluice reported (never less than `minRetryMs`, plus up to `jitter` of it at
 * random so that many waiters do not all come back in the same millisecond), then tries again. It gives up as soon as
 * the next attempt would fall after `maxWaitMs` rather than sleeping into a certain timeout.
 */
import { SluiceError } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import type { RateLimitResult, ShouldRateLimitOptions, WaitOptions } from "./types.js";

export async function waitUntilAllowed(
  attempt: (opts: ShouldRateLimitOptions) => Promise<RateLimitResult>,
  o: Pick<ResolvedOptions, "clock" | "jitter" | "minRetryMs">,
  opts: WaitOptions,
): Promise<RateLimitResult> {
  const { clock } = o;
  if (!(opts.maxWaitMs >= 0)) throw new TypeError(`waitUntilAllowed: maxWaitMs must be >= 0, got ${opts.maxWaitMs}`);
  const giveUpAt = clock.now() + opts.maxWaitMs;
  const callOpts: ShouldRateLimitOptions = {
    ...(opts.hits === undefined ? {} : { hits: opts.hits }),
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  };
  for (;;) {
    opts.signal?.throwIfAborted();
    const result = await attempt(callOpts);
    if (result.allowed) return result;
    const base = Math.max(result.retryAfterMs ?? 0, o.minRetryMs);
    const waitMs = Math.ceil(base * (1 + o.jitter * clock.random()));
    if (clock.now() + waitMs > giveUpAt) {
      throw new SluiceError(
        "WAIT_TIMEOUT",
        `still limited: the next attempt would be in ${waitMs} ms, after maxWaitMs (${opts.maxWaitMs} ms)`,
      );
    }
    opts.onRetry?.(result, waitMs);
    await clock.sleep(waitMs, opts.signal);
  }
}
