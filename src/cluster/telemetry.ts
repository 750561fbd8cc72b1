/**
 * One answer for the whole process tree with WORKERS > 1 (node:cluster): the primary serves PROMETHEUS_ADDR with
 * the sum over every worker (prom-client's AggregatorRegistry asks each worker for its registry over the cluster IPC
 * channel), and a worker answering the debug /stats asks the primary, which collects every worker's stats snapshot
 * and sums it by name. Counters add up; `sluice_rules_info` and the failure-policy gauges count workers.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { AggregatorRegistry } from "prom-client";
import type { Settings } from "../settings/settings.js";
import type { ClusterTelemetryHooks, Telemetry } from "../telemetry/telemetry.js";
import { metricsRoute } from "../transport/http/metrics.js";
import { type HttpServer, startHttpServer } from "../transport/http/server.js";

type Snapshot = ReadonlyArray<readonly [string, number]>;

/** worker → primary: "sum the stats for me". */
const STATS_REQUEST = "sluice:stats-request";
/** primary → every worker: "send me your stats". */
const STATS_COLLECT = "sluice:stats-collect";
/** worker → primary: one worker's stats. */
const STATS_PART = "sluice:stats-part";
/** primary → the asking worker: the sum. */
const STATS_SUM = "sluice:stats-sum";
/** How long the primary waits for every worker's part (a busy worker answers late, a dead one never). */
const COLLECT_TIMEOUT_MS = 2_000;

interface Message {
  readonly type: string;
  readonly id: number;
  readonly snapshot?: Snapshot;
}

function isMessage(m: unknown): m is Message {
  return typeof m === "object" && m !== null && typeof (m as Message).type === "string";
}

/** In a worker: answer the primary's collections, and make /stats ask the primary for the sum. */
export function workerTelemetry(telemetry: Telemetry): ClusterTelemetryHooks {
  if (telemetry.registry !== undefined) {
    new AggregatorRegistry(); // installs prom-client's worker-side IPC listener
    AggregatorRegistry.setRegistries([telemetry.registry]);
  }
  const pending = new Map<number, (s: Snapshot) => void>();
  let nextId = 0;
  process.on("message", (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === STATS_COLLECT) process.send?.({ type: STATS_PART, id: m.id, snapshot: telemetry.stats.snapshot() });
    if (m.type === STATS_SUM) pending.get(m.id)?.(m.snapshot ?? []);
  });
  return {
    snapshot: () =>
      new Promise<Snapshot>((resolve) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(telemetry.stats.snapshot()); // the primary is gone or stuck: this worker's own stats
        }, COLLECT_TIMEOUT_MS * 2);
        pending.set(id, (s) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(s);
        });
        process.send?.({ type: STATS_REQUEST, id });
      }),
  };
}

export interface ClusterTelemetry {
  close(): Promise<void>;
}

/** In the primary: sum /stats on request and serve PROMETHEUS_ADDR from the workers' registries. */
export async function startClusterTelemetry(settings: Readonly<Settings>, log: Logger): Promise<ClusterTelemetry> {
  let nextId = 0;
  const collecting = new Map<number, { parts: Snapshot[]; waiting: number; done: () => void }>();
  cluster.on("message", (worker: Worker, m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === STATS_PART) {
      const c = collecting.get(m.id);
      if (c === undefined) return;
      c.parts.push(m.snapshot ?? []);
      if (--c.waiting === 0) c.done();
    }
    if (m.type === STATS_REQUEST) {
      void collect().then((snapshot) => {
        if (worker.isConnected()) worker.send({ type: STATS_SUM, id: m.id, snapshot });
      });
    }
  });
  const collect = (): Promise<Snapshot> =>
    new Promise((resolve) => {
      const id = nextId++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w?.isConnected() === true);
      const c = { parts: [] as Snapshot[], waiting: workers.length, done: () => {} };
      const finish = (): void => {
        clearTimeout(timer);
        collecting.delete(id);
        resolve(sum(c.parts));
      };
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      c.done = finish;
      collecting.set(id, c);
      for (const w of workers) w.send({ type: STATS_COLLECT, id });
      if (workers.length === 0) finish();
    });

  const server = await startPrometheus(settings, log);
  return { close: async () => server?.close(settings.shutdownTimeoutMs) };
}

async function startPrometheus(settings: Readonly<Settings>, log: Logger): Promise<HttpServer | undefined> {
  const prom = settings.observability.prometheus;
  if (prom === undefined) return undefined;
  const aggregator = new AggregatorRegistry();
  const metricsLog = log.child({ component: "metrics-http" });
  const server = await startHttpServer({
    ...prom.listen,
    routes: [
      metricsRoute({
        path: prom.path,
        render: () => aggregator.clusterMetrics(),
        contentType: aggregator.contentType,
        log: metricsLog,
      }),
    ],
    log: metricsLog,
  });
  metricsLog.info({ address: server.address, path: prom.path }, "serving the workers' metrics");
  return server;
}

/** Sums snapshots by stat name, sorted by name as a single process's /stats. */
function sum(parts: readonly Snapshot[]): Snapshot {
  const all = new Map<string, number>();
  for (const part of parts) for (const [name, value] of part) all.set(name, (all.get(name) ?? 0) + value);
  return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
