/**
 * The one pino root logger, created by main from Settings and passed down (no module-level logger). Components take
 * children: `log.child({ component: "grpc" })`. LOG_FORMAT=text renders through pino-pretty in-process (no worker
 * thread), each entry on one line with its fields; json writes one object per line; both write synchronously to
 * stdout so nothing is lost on exit.
 * With tracing on, a line written inside a sampled call carries `trace_id` and `span_id`.
 */
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { LogFormat, LogLevel } from "../settings/settings.js";
import { activeTraceIds } from "./trace-ids.js";

export interface LoggerOptions {
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** TRACING_ENABLED: add the active span's ids to each line. */
  readonly traceIds?: boolean;
}

/** Creates the root logger. `dest` overrides stdout (tests pass a sink). */
export function createLogger(options: LoggerOptions, dest?: DestinationStream): Logger {
  const pinoOptions = {
    level: options.logLevel,
    base: { service: "sluice" },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(options.traceIds === true ? { mixin: () => activeTraceIds() ?? {} } : {}),
  };
  if (dest !== undefined) return pino(pinoOptions, dest);
  if (options.logFormat === "json") return pino(pinoOptions, pino.destination({ dest: 1, sync: true }));
  return pino(pinoOptions, pretty({ destination: 1, sync: true, singleLine: true, ignore: "pid,hostname,service" }));
}

/** Flushes buffered log output; resolves even if the destination cannot flush. */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      log.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
