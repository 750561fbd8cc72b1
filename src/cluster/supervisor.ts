/**
 * WORKERS > 1 with the Redis backend: a node:cluster primary forks WORKERS copies of `dist/main.js` that all listen on
 * the same gRPC, HTTP and debug ports, and supervises them. The primary serves nothing itself.
 *
 * Why node:cluster: the counters live in Redis, so workers share nothing but the listening sockets, which node:cluster
 * shares for any `listen()` (the gRPC server is a plain node:http2 server). No proxy in front, no extra dependency, and
 * WORKERS=1 stays exactly the single process that the benchmark pins to one core.
 *
 * Scheduling: round-robin (`cluster.SCHED_RR`, set explicitly; it is Node's default except on Windows). The primary
 * accepts each connection and hands it to the next worker. That costs one IPC message per connection, which is
 * nothing for gRPC's long-lived HTTP/2 connections, while leaving `accept()` to the kernel (`SCHED_NONE`) lets the
 * least busy process win most races, piling long-lived connections onto one or two workers. Load is spread per
 * connection, not per request: a client with a single HTTP/2 connection is served by one worker (Envoy opens one
 * per worker thread; GRPC_MAX_CONNECTION_AGE makes clients reconnect and rebalance).
 *
 * Lifecycle:
 * - Start: one worker first, the others once it reported ready, so a start that cannot work (e.g. a port in use)
 *   fails once per attempt instead of WORKERS times.
 * - A worker that dies unexpectedly is replaced after a backoff; workers that keep dying before they are ready, with
 *   none serving, make the supervisor give up and the process exit 1 (restart-policy.ts).
 * - close(): SIGTERM to every worker (each drains as a single process does), then wait until all have exited; the
 *   survivors are killed `SHUTDOWN_TIMEOUT` + 2 s later. Workers whose primary dies exit on their own (node:cluster
 *   ends a worker whose IPC channel closes unexpectedly).
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { createRestartPolicy, DEFAULT_RESTART_POLICY, type RestartPolicyOptions } from "./restart-policy.js";

/** Sent by a worker over the cluster IPC channel once its listeners are up. */
const READY_MESSAGE = "sluice:ready";
/** How long past SHUTDOWN_TIMEOUT the primary waits for draining workers before it kills them. */
const KILL_MARGIN_MS = 2_000;

export interface SupervisorOptions {
  readonly workers: number;
  readonly shutdownTimeoutMs: number;
  readonly log: Logger;
  /** Called once the supervisor gave up on workers that keep failing at startup (none is left running). */
  readonly onGiveUp: (startupFailures: number) => void;
  readonly restartPolicy?: RestartPolicyOptions;
}

export interface Supervisor {
  /** Pids of the workers alive now. */
  pids(): number[];
  /**
   * Stops restarting, sends SIGTERM to every worker and resolves once all have exited cleanly; rejects when one
   * exited with an error or had to be killed. Idempotent.
   */
  close(): Promise<void>;
}

interface WorkerState {
  readonly worker: Worker;
  ready: boolean;
}

/** Forks and supervises the workers. Call once, in the primary, before anything listens. */
export function startSupervisor(options: SupervisorOptions): Supervisor {
  const log = options.log.child({ component: "supervisor" });
  const policy = createRestartPolicy(options.restartPolicy ?? DEFAULT_RESTART_POLICY);
  const live = new Map<number, WorkerState>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let everReady = false;
  let stopping = false;
  let stopFailed = false;
  let onDrained: (() => void) | undefined;

  cluster.schedulingPolicy = cluster.SCHED_RR;
  log.info({ workers: options.workers, scheduling: "round-robin" }, "starting workers");

  const reconcile = (): void => {
    const wanted = everReady ? options.workers : 1;
    while (!stopping && live.size + restartTimers.size < wanted) fork();
  };

  const fork = (): void => {
    const worker = cluster.fork();
    const state: WorkerState = { worker, ready: false };
    live.set(worker.id, state);
    worker.on("error", (err: Error) => log.warn({ worker: worker.id, err }, "worker channel error"));
    worker.on("message", (message: unknown) => {
      if (message !== READY_MESSAGE || state.ready) return;
      state.ready = true;
      policy.ready();
      log.info({ worker: worker.id, pid: worker.process.pid }, "worker ready");
      if (!everReady) {
        everReady = true;
        reconcile();
      }
    });
    worker.on("exit", (code: number | null, signal: NodeJS.Signals | null) => {
      live.delete(worker.id);
      if (stopping) {
        if (!cleanExit(code, signal)) {
          stopFailed = true;
          log.error({ worker: worker.id, code, signal }, "worker exited with an error");
        }
        if (live.size === 0) onDrained?.();
        return;
      }
      replace(state, code, signal);
    });
  };

  const replace = (state: WorkerState, code: number | null, signal: NodeJS.Signals | null): void => {
    const othersServing = [...live.values()].some((w) => w.ready);
    const decision = policy.exited(Date.now(), { wasReady: state.ready, othersServing });
    const fields = { worker: state.worker.id, pid: state.worker.process.pid, code, signal };
    if (decision.action === "give-up") {
      log.fatal({ ...fields, startupFailures: decision.startupFailures }, "workers keep failing at startup; giving up");
      stopAll().then(
        () => options.onGiveUp(decision.startupFailures),
        () => options.onGiveUp(decision.startupFailures),
      );
      return;
    }
    const what = state.ready ? "worker exited unexpectedly; replacing it" : "worker failed to start; retrying";
    log.error({ ...fields, delayMs: decision.delayMs }, what);
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      reconcile();
    }, decision.delayMs);
    restartTimers.add(timer);
  };

  let stopped: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve, reject) => {
      stopping = true;
      for (const t of restartTimers) clearTimeout(t);
      restartTimers.clear();
      const kill = setTimeout(() => {
        stopFailed = true;
        log.error({ pids: pidsOf(live) }, "workers still running at the shutdown deadline; killing them");
        for (const { worker } of live.values()) worker.process.kill("SIGKILL");
      }, options.shutdownTimeoutMs + KILL_MARGIN_MS);
      onDrained = () => {
        clearTimeout(kill);
        if (stopFailed) return reject(new Error("a worker did not stop cleanly"));
        log.info("all workers stopped");
        resolve();
      };
      for (const { worker } of live.values()) worker.process.kill("SIGTERM");
      if (live.size === 0) onDrained();
    });
    return stopped;
  };

  reconcile();
  return { pids: () => pidsOf(live), close: stopAll };
}

/** Tells the primary (if any) that this worker's listeners are up. A no-op outside a cluster worker. */
export function announceReady(): void {
  if (cluster.isWorker) process.send?.(READY_MESSAGE);
}

/** A worker's logger: every line names the worker and its pid (the root logger carries neither). */
export function workerLogger(log: Logger): Logger {
  return cluster.isWorker ? log.child({ worker: cluster.worker?.id, pid: process.pid }) : log;
}

/** A worker stopped by our SIGTERM before it installed its handlers dies of the signal: that is a clean stop too. */
function cleanExit(code: number | null, signal: NodeJS.Signals | null): boolean {
  return code === 0 || signal === "SIGTERM";
}

function pidsOf(live: ReadonlyMap<number, WorkerState>): number[] {
  return [...live.values()].flatMap(({ worker }) => (worker.process.pid === undefined ? [] : [worker.process.pid]));
}
