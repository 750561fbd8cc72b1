/**
 * Reconnect delays of the xDS client, so a management server that goes away is never hammered (reference issue
 * 502 was a hot loop on stream close). Pure: the random source is injected.
 *
 * - Until the server has been reached once (startup, server not up yet): every CONFIG_GRPC_XDS_SERVER_CONNECT_
 *   RETRY_INTERVAL, spread ±50 %, as the reference's linear dial retry.
 * - After a stream that had delivered config ends: XDS_CLIENT_BACKOFF_INITIAL_INTERVAL, doubling on every attempt
 *   that gets no response up to XDS_CLIENT_BACKOFF_MAX_INTERVAL; each delay spread over ±RANDOM_FACTOR when
 *   XDS_CLIENT_BACKOFF_JITTER is on (so a fleet does not reconnect in lockstep). A response resets it.
 */
import type { XdsBackoffSettings } from "../../settings/xds-settings.js";

export interface Backoff {
  /** The wait before the next attempt, in ms. */
  next(): number;
  /** The server delivered a response: the next failure starts over from the initial interval. */
  reset(): void;
}

/** Creates the delay sequence; `random` returns [0, 1). */
export function createBackoff(
  connectRetryIntervalMs: number,
  settings: XdsBackoffSettings,
  random: () => number = Math.random,
): Backoff {
  let reached = false;
  let failures = 0;
  const spread = (ms: number, factor: number): number =>
    Math.max(1, Math.round(ms * (1 - factor + 2 * factor * random())));
  return {
    next() {
      if (!reached) return spread(connectRetryIntervalMs, 0.5);
      const base = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.min(failures++, 30));
      return settings.jitter ? spread(base, settings.randomFactor) : base;
    },
    reset() {
      reached = true;
      failures = 0;
    },
  };
}
