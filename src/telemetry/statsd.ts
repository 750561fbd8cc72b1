/**
 * statsd (USE_STATSD) through hot-shots, as the reference's gostats statsd sink: every STATS_FLUSH_INTERVAL each
 * counter that moved is sent as `name:<delta>|c`, and each ShouldRateLimit response time as
 * `ratelimit_server.ShouldRateLimit.response_time:<ms>|ms`. EXTRA_TAGS follow gostats: in the name
 * (`name.__k=v`, sorted by tag name) for plain statsd, as DogStatsD tags (`|#k:v`) with USE_DOG_STATSD.
 *
 * UDP never blocks and nobody has to listen: a missing statsd (ECONNREFUSED, DNS failure) is logged once at warn and
 * the stats keep counting in memory. Lines are batched into datagrams (hot-shots' buffer, flushed each second).
 */

import StatsD from "hot-shots";
import type { Logger } from "pino";
import type { StatsdSettings } from "../settings/observability-settings.js";
import type { Stats } from "./stats.js";

export interface StatsdExporter {
  /** Records one response time (ms); the datagram goes out with the next buffer flush. */
  timing(ms: number): void;
  /** Sends what moved since the last flush. Called by the interval; exposed for shutdown and tests. */
  flush(): void;
  /** Flushes a last time and closes the socket. */
  close(): Promise<void>;
}

const RESPONSE_TIME = "ratelimit_server.ShouldRateLimit.response_time";
/** Largest datagram hot-shots assembles (lines are batched up to this size); safe on loopback and most networks. */
const MAX_DATAGRAM_BYTES = 1432;

export function createStatsdExporter(
  settings: StatsdSettings,
  extraTags: Readonly<Record<string, string>>,
  stats: Stats,
  log: Logger,
): StatsdExporter {
  let warned = false;
  const tagNames = Object.keys(extraTags).sort();
  const nameSuffix = settings.dogStatsd ? "" : tagNames.map((k) => `.__${k}=${extraTags[k]}`).join("");
  const client = new StatsD({
    host: settings.host,
    port: settings.port,
    protocol: "udp",
    maxBufferSize: MAX_DATAGRAM_BYTES,
    bufferFlushInterval: 1000,
    globalTags: settings.dogStatsd ? { ...extraTags } : {},
    errorHandler: (err) => {
      if (warned) return;
      warned = true;
      log.warn(
        { err, host: settings.host, port: settings.port },
        "statsd not reachable; stats keep counting in memory",
      );
    },
  });
  const last = new Map<string, number>();
  const responseTimeName = `${RESPONSE_TIME}${nameSuffix}`;

  const flush = (): void => {
    for (const [name, value] of stats.snapshot()) {
      const delta = value - (last.get(name) ?? 0);
      if (delta === 0) continue;
      last.set(name, value);
      client.increment(`${name}${nameSuffix}`, delta);
    }
  };
  const timer = setInterval(flush, settings.flushIntervalMs);
  timer.unref();

  return {
    timing(ms: number): void {
      client.timing(responseTimeName, ms);
    },
    flush,
    close(): Promise<void> {
      clearInterval(timer);
      flush();
      return new Promise((resolve) => client.close(() => resolve()));
    },
  };
}
