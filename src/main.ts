/**
 * Process entry point (`node dist/main.js`): read settings once, create the logger, start the service, and turn
 * SIGTERM/SIGINT into a graceful stop that exits 0. Invalid settings print every problem to stderr and exit 2.
 * Wiring lives in service.ts; this file only owns process-level concerns. With WORKERS > 1 and the Redis backend
 * this same file runs as the cluster primary (which validates the settings, then supervises: cluster/supervisor.ts)
 * and as each worker (which serves exactly as a single process does).
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import { MEMORY_SINGLE_PROCESS_NOTE, type ProcessRole, processRole } from "./cluster/role.js";
import { announceReady, startSupervisor, workerLogger } from "./cluster/supervisor.js";
import { startClusterTelemetry, workerTelemetry } from "./cluster/telemetry.js";
import { ConfigError, SettingsError } from "./domain/errors.js";
import { type RunningService, startService } from "./service.js";
import { tuneGc } from "./settings/gc-tuning.js";
import { loadSettings, type Settings } from "./settings/settings.js";
import { checkStartupFiles } from "./startup-checks.js";
import { createLogger, flushLogger } from "./telemetry/logger.js";
import { loadStatsdMapper, type StatsdMapper } from "./telemetry/statsd-mapper.js";

/** Exit codes: 0 clean stop, 1 runtime failure, 2 invalid settings. */
const EXIT_FAILURE = 1;
const EXIT_BAD_SETTINGS = 2;
/** Margin past SHUTDOWN_TIMEOUT before the process is ended regardless (closing the watcher, store, logger). */
const HARD_EXIT_MARGIN_MS = 3_000;

async function main(): Promise<void> {
  tuneGc();
  const settings = readSettings();
  if (settings === undefined) return;
  const mapper = readMapper(settings);
  if (mapper === undefined) return;
  const role = processRole(settings, cluster.isWorker);
  const log = workerLogger(createLogger(settings));
  installCrashHandlers(log);
  if (role !== "worker") logStartupNotes(settings, role, log);
  if (role === "primary") {
    const supervisor = startSupervisor({
      workers: settings.workers,
      shutdownTimeoutMs: settings.shutdownTimeoutMs,
      log,
      onGiveUp: () => void exit(log, EXIT_FAILURE),
    });
    let telemetry: Awaited<ReturnType<typeof startClusterTelemetry>>;
    try {
      telemetry = await startClusterTelemetry(settings, log);
    } catch (err) {
      log.fatal({ err }, "startup failed");
      await supervisor.close().catch(() => {});
      await exit(log, EXIT_FAILURE);
      return;
    }
    installSignalHandlers({ close: () => supervisor.close().finally(() => telemetry.close()) }, settings, log);
    return;
  }
  let service: RunningService;
  try {
    // One "Sluice started" line per deployment: the single process, or the first worker.
    service = await startService(settings, {
      log,
      mapper,
      announce: role === "single" || cluster.worker?.id === 1,
      ...(role === "worker" ? { clusterTelemetry: workerTelemetry } : {}),
    });
  } catch (err) {
    // Settings that can only be checked by using them (e.g. a TLS file that is not a certificate) exit like the rest.
    if (err instanceof SettingsError) process.stderr.write(`sluice: cannot start, ${err.message}\n`);
    log.fatal({ err }, "startup failed");
    await exit(log, err instanceof SettingsError ? EXIT_BAD_SETTINGS : EXIT_FAILURE);
    return;
  }
  installSignalHandlers(service, settings, log);
  announceReady();
}

/** PROMETHEUS_MAPPER_YAML (or the default mapping); a mapping Sluice cannot honour stops startup like bad settings. */
function readMapper(settings: Readonly<Settings>): StatsdMapper | undefined {
  try {
    return loadStatsdMapper(settings.observability.prometheus?.mapperFile);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`sluice: cannot start, PROMETHEUS_MAPPER_YAML: ${err.message}\n`);
    process.exitCode = EXIT_BAD_SETTINGS;
    return undefined;
  }
}

/** Once per deployment, not once per worker. */
function logStartupNotes(settings: Readonly<Settings>, role: ProcessRole, log: Logger): void {
  if (settings.ignoredEnv.length > 0) {
    log.warn({ names: settings.ignoredEnv }, "reference settings not implemented by Sluice are ignored");
  }
  if (role === "single" && settings.workersSet && settings.workers > 1)
    log.info({ workers: settings.workers }, MEMORY_SINGLE_PROCESS_NOTE);
}

function readSettings(): Readonly<Settings> | undefined {
  try {
    const settings = loadSettings();
    checkStartupFiles(settings);
    return settings;
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    process.stderr.write(`sluice: cannot start, ${err.message}\n`);
    process.exitCode = EXIT_BAD_SETTINGS;
    return undefined;
  }
}

/** What a signal stops: the service itself, or the supervisor of the workers that run it. */
interface Stoppable {
  close(): Promise<void>;
}

function installSignalHandlers(service: Stoppable, settings: Readonly<Settings>, log: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "already shutting down");
      return;
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    const startedAt = performance.now();
    const hard = setTimeout(() => {
      log.error("shutdown did not finish in time; exiting");
      void exit(log, EXIT_FAILURE);
    }, settings.shutdownTimeoutMs + HARD_EXIT_MARGIN_MS);
    hard.unref();
    service.close().then(
      () => {
        log.info({ durationMs: Math.round(performance.now() - startedAt) }, "shutdown complete");
        return exit(log, 0);
      },
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
