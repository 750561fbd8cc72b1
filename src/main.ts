/**
 * Process entry point (`node dist/main.js`): read settings once, create the logger, start the service, and turn
 * SIGTERM/SIGINT into a graceful stop that exits 0. Invalid settings print every problem to stderr and exit 2.
 * Wiring lives in service.ts; this file only owns process-level concerns.
 */
import type { Logger } from "pino";
import { SettingsError } from "./domain/errors.js";
import { type RunningService, startService } from "./service.js";
import { loadSettings, type Settings } from "./settings/settings.js";
import { createLogger, flushLogger } from "./telemetry/logger.js";

/** Exit codes: 0 clean stop, 1 runtime failure, 2 invalid settings. */
const EXIT_FAILURE = 1;
const EXIT_BAD_SETTINGS = 2;
/** Margin past SHUTDOWN_TIMEOUT before the process is ended regardless (closing the watcher, store, logger). */
const HARD_EXIT_MARGIN_MS = 3_000;

async function main(): Promise<void> {
  const settings = readSettings();
  if (settings === undefined) return;
  const log = createLogger(settings);
  installCrashHandlers(log);
  if (settings.ignoredEnv.length > 0) {
    log.warn({ names: settings.ignoredEnv }, "reference settings not implemented by Sluice are ignored");
  }
  let service: RunningService;
  try {
    service = await startService(settings, { log });
  } catch (err) {
    log.fatal({ err }, "startup failed");
    await exit(log, EXIT_FAILURE);
    return;
  }
  installSignalHandlers(service, settings, log);
}

function readSettings(): Readonly<Settings> | undefined {
  try {
    return loadSettings();
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    process.stderr.write(`sluice: cannot start, ${err.message}\n`);
    process.exitCode = EXIT_BAD_SETTINGS;
    return undefined;
  }
}

function installSignalHandlers(service: RunningService, settings: Readonly<Settings>, log: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "already shutting down");
      return;
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    const hard = setTimeout(() => {
      log.error("shutdown did not finish in time; exiting");
      void exit(log, EXIT_FAILURE);
    }, settings.shutdownTimeoutMs + HARD_EXIT_MARGIN_MS);
    hard.unref();
    service.close().then(
      () => exit(log, 0),
      (err: unknown) => {
        log.error({ err }, "error while shutting down");
        return exit(log, EXIT_FAILURE);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

function installCrashHandlers(log: Logger): void {
  const crash = (err: unknown, what: string): void => {
    log.fatal({ err }, what);
    void exit(log, EXIT_FAILURE);
  };
  process.on("uncaughtException", (err) => crash(err, "uncaught exception"));
  process.on("unhandledRejection", (err) => crash(err, "unhandled promise rejection"));
}

async function exit(log: Logger, code: number): Promise<void> {
  await flushLogger(log);
  process.exit(code);
}

await main();
