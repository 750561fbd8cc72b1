/**
 * `npm run soak` (issue 12): W2 (100,000 distinct keys, memory backend by default) against the built service for
 * --minutes (default 10), every response verified by the load generator. RSS and open file descriptors of the
 * service are sampled every 5 s; at the end the service gets SIGTERM and the time to exit is measured. Prints one
 * JSON line: requests, errors, RSS (first, max, last), fds (first, max, last), SIGTERM-to-exit time and exit code.
 *
 *   npm run soak -- --minutes 10 [--backend memory|redis --redis-url 127.0.0.1:6379] [--connections 8 --in-flight 256]
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadGenerated } from "./lib/grpc-wire.mjs";
import { createLoadRunner } from "./lib/load-generator.mjs";
import { RESULTS_DIR, RULES_ROOT } from "./lib/paths.mjs";
import { stopChildrenOnSignal } from "./lib/processes.mjs";
import { startServiceProcess } from "./lib/service-process.mjs";
import { buildWorkload } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    backend: { type: "string", default: "memory" },
    "redis-url": { type: "string", default: "127.0.0.1:6379" },
    connections: { type: "string", default: "8" },
    "in-flight": { type: "string", default: "256" },
    "sample-seconds": { type: "string", default: "5" },
  },
});
stopChildrenOnSignal();
const ms = Number(args.minutes) * 60_000;
const sampleMs = Number(args["sample-seconds"]) * 1000;

const gen = await loadGenerated();
const workload = buildWorkload(gen, "W2", 100_000);
const extra = { BACKEND_TYPE: args.backend };
if (args.backend === "redis") extra.REDIS_URL = args["redis-url"];
const logFile = path.join(RESULTS_DIR, "soak", "service.log");
const { proc, ports } = await startServiceProcess(gen, { rulesRoot: RULES_ROOT, logFile, env: extra });

const rssMb = () => {
  const status = fs.readFileSync(`/proc/${proc.pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
};
const fds = () => fs.readdirSync(`/proc/${proc.pid}/fd`).length;
const samples = [];
const sample = () => samples.push({ s: Math.round(performance.now() / 1000), rssMb: rssMb(), fds: fds() });
sample();
const timer = setInterval(sample, sampleMs);

const runner = await createLoadRunner({
  port: ports.grpc,
  frames: workload.frames,
  expect: workload.expect,
  allowOk: workload.allowOk,
  statuses: workload.descriptors,
  connections: Number(args.connections),
  inFlight: Number(args["in-flight"]),
});
let slice;
let error;
try {
  slice = await runner.runSlice(ms);
} catch (err) {
  error = err instanceof Error ? err.message : String(err);
}
clearInterval(timer);
sample();
await runner.close();

const t0 = performance.now();
proc.child.kill("SIGTERM");
const exitCode = await proc.exited;
const sigtermMs = Math.round(performance.now() - t0);

const stat = (k) => ({ first: samples[0][k], max: Math.max(...samples.map((x) => x[k])), last: samples.at(-1)[k] });
const report = {
  minutes: Number(args.minutes),
  backend: args.backend,
  requests: slice?.requests ?? 0,
  rps: slice ? Math.round(slice.rps) : 0,
  errors: error === undefined ? 0 : 1,
  error,
  rssMb: stat("rssMb"),
  fds: stat("fds"),
  sigtermMs,
  exitCode,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
if (error !== undefined || exitCode !== 0) process.exitCode = 1;
