/**
 * The one pino root logger, created by main from Settings and passed down (no module-level logger). Components take
 * children: `log.child({ component: "grpc" })`. LOG_FORMAT=text renders through pino-pretty in-process (no worker
 * thread), each entry on one line with its fields; json writes one object per line; both write synchronously to
 * stdout so nothing is lost on exit.
 * With tracing on, the transports log a sampled call's lines through a child carrying `trace_id` and `span_id`.
 */
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { LogFormat, LogLevel } from "../settings/settings.js";

export interface LoggerOptions {
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
}

/** Creates the root logger. `dest` overrides stdout (tests pass a sink). */
export function createLogger(options: LoggerOptions, dest?: DestinationStream): Logger {
  const pinoOptions = {
    level: options.logLevel,
    base: { service: "sluice" },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
  };
  if (options.logFormat === "json") return pino(pinoOptions, dest ?? pino.destination({ dest: 1, sync: true }));
  return pino(
    pinoOptions,
    pretty({ destination: dest ?? 1, sync: true, singleLine: true, ignore: "pid,hostname,service" }),
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;
const escapeControl = (text: string): string =>
  text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/**
 * pino's error serializer, with control characters in the message escaped, also where the stack repeats it:
 * JSON output escapes every string, but LOG_FORMAT=text prints the stack as it is, and an error message can carry a
 * request value (a CR/LF there would forge log lines).
 */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (out === null || typeof out !== "object" || typeof out["message"] !== "string") return out;
  const message = out["message"];
  const safe = escapeControl(message);
  if (safe === message) return out;
  out["message"] = safe;
  const stack = out["stack"];
  if (typeof stack === "string") {
    const head = stack.indexOf(message);
    out["stack"] =
      head === -1 ? escapeControl(stack) : stack.slice(0, head) + safe + stack.slice(head + message.length);
  }
  return out;
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
