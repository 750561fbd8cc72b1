/**
 * Issue 12: does a large rule reload stall serving? Starts the built service (memory backend) on a rules directory
 * holding the bench rules plus --rules rule items spread over files of --per-file (10,000) rules, keeps --in-flight
 * W1 calls going, and measures call latency in two windows of --seconds each: steady (no reload), then while every
 * large file is rewritten (a changed limit) and reloaded. Prints the p50/p99/max of both windows, the reload's own
 * duration from the service's "rules loaded" log line, and exits 1 if a call failed.
 *
 * By default the load is closed loop (--in-flight calls always outstanding), which saturates this machine: the client
 * and the service fill both cores, so any work the reload adds takes throughput from serving. With --rate the load is
 * open loop at that many calls per second (up to --in-flight outstanding), the way a service runs in production, with
 * headroom; --rate half measures the closed-loop rate first and offers half of it.
 *
 * --base DIR runs that built checkout's service instead, to compare builds run by run.
 *
 * --pin runs the service alone on CPU 0 (all its threads: serving, rule worker, GC helpers) and this process, the
 * client, on CPU 1, as `npm run bench` does: the way a rate-limit service runs in production, where the proxy that
 * calls it is elsewhere. Unpinned, the client competes with the service's threads for the same two cores, and the
 * window also measures that.
 *
 * --fill N first puts N distinct keys in the memory store (one call per client IP on an hour limit), so that both
 * windows run with a large heap: what V8's collector does with a million live counters shows there.
 *
 * --cycles N instead measures one window of N periods (--period seconds each, default 8) in which every period starts
 * with a rewrite of the large files (the limit alternates): calls are split into those completed while a reload ran
 * (first rewrite to the new rules' load) and those completed between reloads, in the same process and window, and
 * the p99 of each is reported with their ratio. Separate windows drift with the collector's cycle and the machine;
 * this compares like with like. Calls over 1 ms are kept, so both p99s resolve. With --control, the 2.5 s after each
 * write stand in for the reload.
 *
 * --control writes the same files outside the rules directory instead: nothing reloads, so what the window shows
 * beyond the steady one is the client's own writing (and the machine), the part of a reload's cost that is not
 * the service's.
 *
 *   npm run build && node bench/reload-stall.mjs [--rules 50000] [--seconds 4] [--warmup 1] [--in-flight 4]
 *     [--rate N|half] [--base DIR] [--pin] [--fill N] [--control] [--cycles N --period S] [--per-file N]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { clientIp, fillKeys } from "./lib/fill-keys.mjs";
import { encodeRequestFrame, loadGenerated } from "./lib/grpc-wire.mjs";
import { createLoadRunner } from "./lib/load-generator.mjs";
import { RULES_ROOT } from "./lib/paths.mjs";
import { relaunchPinned, stopChildrenOnSignal } from "./lib/processes.mjs";
import { startServiceProcess } from "./lib/service-process.mjs";
import { buildWorkload } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    rules: { type: "string", default: "50000" },
    seconds: { type: "string", default: "4" },
    warmup: { type: "string", default: "1" },
    "in-flight": { type: "string" },
    rate: { type: "string" },
    base: { type: "string" },
    control: { type: "boolean", default: false },
    pin: { type: "boolean", default: false },
    fill: { type: "string", default: "0" },
    cycles: { type: "string", default: "0" },
    "per-file": { type: "string", default: "10000" },
    period: { type: "string", default: "8" },
  },
});
// Pinned: re-executed on CPU 1; this copy only waits for it and exits with its code.
if (args.pin && relaunchPinned(1, 0)) await new Promise(() => {});
stopChildrenOnSignal();
const RULES = Number(args.rules);
const PER_FILE = Number(args["per-file"]);
/** With --cycles --control: about a 50,000-rule reload's length on this machine. */
const CONTROL_RELOAD_MS = 2500;

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-reload-stall-"));
const dir = path.join(root, "ratelimit", "config");
fs.mkdirSync(dir, { recursive: true });
fs.copyFileSync(path.join(RULES_ROOT, "ratelimit", "config", "bench.yaml"), path.join(dir, "bench.yaml"));
const FILL = Number(args.fill);
if (FILL > 0) {
  fs.writeFileSync(
    path.join(dir, "fill.yaml"),
    "domain: fill\ndescriptors:\n  - key: ip\n    rate_limit: { unit: hour, requests_per_unit: 1000 }\n",
  );
}
const bigFiles = [];
/** The text of file `n`: `count` rules in its own domain; `limit` changes between the two versions. */
function bigText(n, count, limit) {
  let text = `domain: big${n}\ndescriptors:\n`;
  for (let i = 0; i < count; i++) {
    text += `  - key: user\n    value: u${i}\n    rate_limit: { unit: minute, requests_per_unit: ${limit} }\n`;
  }
  return text;
}
function writeBig(n, count, limit) {
  const file = path.join(dir, `big${n}.yaml`);
  fs.writeFileSync(`${file}.tmp`, bigText(n, count, limit));
  fs.renameSync(`${file}.tmp`, file);
  return file;
}
for (let n = 0; n * PER_FILE < RULES; n++) bigFiles.push(writeBig(n, Math.min(PER_FILE, RULES - n * PER_FILE), 100));

const gen = await loadGenerated();
const workload = buildWorkload(gen, "W1");
const logFile = path.join(root, "service.log");
const base = args.base && path.resolve(args.base);
const { proc, ports } = await startServiceProcess(gen, {
  rulesRoot: root,
  logFile,
  readyTimeoutMs: 60_000,
  base,
  cpu: args.pin ? 0 : null,
});
const loads = () =>
  fs
    .readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes('"rules loaded"'));
while (loads().length === 0) await new Promise((r) => setTimeout(r, 100));
let filled;
if (FILL > 0) {
  const frames = Array.from({ length: FILL }, (_, i) =>
    encodeRequestFrame(gen, "fill", [[["ip", clientIp(i)]]], [], []),
  );
  const t0 = performance.now();
  const { calls, errors } = await fillKeys(ports.grpc, frames);
  filled = { keys: FILL, calls, errors, seconds: Math.round((performance.now() - t0) / 1000) };
}

async function measure(during, rate, { seconds = Number(args.seconds), slowMs = 5 } = {}) {
  const runner = await createLoadRunner({
    port: ports.grpc,
    frames: workload.frames,
    expect: workload.expect,
    allowOk: 1e9,
    statuses: 1,
    connections: 2,
    inFlight: Number(args["in-flight"] ?? (rate === undefined ? 4 : 256)),
    rate,
    slowMs,
  });
  await runner.runSlice(Number(args.warmup) * 1000, { record: false }); // warm-up
  const slice = await runner.runSlice(seconds * 1000, { onStart: during });
  const totals = await runner.totals();
  await runner.close();
  return {
    rps: Math.round(slice.rps),
    p50Ms: totals.p50Us / 1000,
    p99Ms: totals.p99Us / 1000,
    maxMs: totals.maxUs / 1000,
    errors: totals.errors,
    slow: totals.slow,
  };
}

// Half the closed-loop rate, measured now, or the rate asked for; undefined is closed loop.
const rate =
  args.rate === "half" ? Math.round((await measure(undefined, undefined)).rps / 2) : args.rate && Number(args.rate);
const target = (file) => (args.control ? path.join(root, "elsewhere", path.basename(file)) : file);
if (args.control) fs.mkdirSync(path.join(root, "elsewhere"));
// The new versions are built before the window and written with the async fs API: the load generator shares this
// thread, and building or writing 50,000 rules synchronously inside the window would stall the client, not the service.
// As bytes: encoding a 1 MB string to write it would block the client's loop too (`--control` measures what is left).
/** Every large file's text with `limit`, as bytes. */
const versionWith = (limit) =>
  bigFiles.map((file, n) => ({ file, text: Buffer.from(bigText(n, Math.min(PER_FILE, RULES - n * PER_FILE), limit)) }));
/** Writes a version (each file written aside, then renamed over the old one, as deploys do). */
async function rewrite(version) {
  for (const { file, text } of version) {
    await fs.promises.writeFile(`${target(file)}.tmp`, text);
    await fs.promises.rename(`${target(file)}.tmp`, target(file));
  }
}
/** What both reports start with: the run's setup. */
const setup = (rate) => ({
  rules: RULES,
  build: base ?? "this checkout",
  mode: rate === undefined ? "closed loop" : `open loop, ${rate} calls/s`,
  pinned: args.pin,
  control: args.control,
});
if (Number(args.cycles) > 0) {
  await measureCycles(Number(args.cycles), Number(args.period) * 1000, rate);
  process.exit(process.exitCode ?? 0);
}
const steady = await measure(undefined, rate);
const before = loads().length;
let reloadMs;
let reloadT0;
let poll;
const rewrites = versionWith(200);
const reloading = await measure(() => {
  setTimeout(async () => {
    const t0 = performance.now();
    reloadT0 = t0;
    await rewrite(rewrites);
    poll = setInterval(() => {
      if (loads().length > before) {
        clearInterval(poll);
        reloadMs = Math.round(performance.now() - t0);
      }
    }, 20);
  }, 500);
}, rate);
clearInterval(poll);
proc.child.kill("SIGTERM");
await proc.exited;
// The service's own account of the reload(s) the rewrite caused: read and parse (worker thread) times.
const reloads = loads()
  .slice(before)
  .map((l) => JSON.parse(l))
  .map(({ readMs, parseMs }) => ({ readMs, parseMs }));
/** Calls slower than 5 ms in 500 ms buckets from the first rewrite: "seconds: count, max ms". */
const timeline = (slow) => {
  const buckets = new Map();
  for (const [at, ms] of slow) {
    const b = Math.floor((at - reloadT0) / 500) / 2;
    const cur = buckets.get(b) ?? { n: 0, max: 0 };
    cur.n++;
    cur.max = Math.max(cur.max, ms);
    buckets.set(b, cur);
  }
  return [...buckets].map(([b, { n, max }]) => `${b}s: ${n}, ${max.toFixed(0)}`);
};
reloading.slowCalls = timeline(reloading.slow);
// The first half-second from the first rewrite: where a reload's slow calls bunch (BENCHMARKS.md).
reloading.slowFirstHalfSecond = reloading.slow.filter(([at]) => at >= reloadT0 && at < reloadT0 + 500).length;
steady.slowCalls = steady.slow.length;
// Share of calls slower than 5 ms: over the steady window, and from the first rewrite until the new rules loaded.
steady.slowPct = +((100 * steady.slow.length) / (steady.rps * Number(args.seconds))).toFixed(2);
if (reloadMs !== undefined) {
  const during = reloading.slow.filter(([at]) => at >= reloadT0 && at <= reloadT0 + reloadMs);
  const calls = (reloading.rps * reloadMs) / 1000;
  reloading.slowPctWhileReloading = +((100 * during.length) / calls).toFixed(2);
  // The p99 of the calls that completed while reloading (the open loop completes about `rps` a second): the
  // (1% of them)-th slowest, when more than 1% took over 5 ms; otherwise it is under 5 ms.
  const slowest = during.map(([, ms]) => ms).sort((a, b) => b - a);
  const rank = Math.floor(calls / 100);
  reloading.p99WhileReloadingMs = rank < slowest.length ? +slowest[rank].toFixed(1) : "<5";
}
delete reloading.slow;
delete steady.slow;
const report = {
  ...setup(rate),
  filled,
  steady,
  reloading,
  reloadedWithinWindow: reloadMs !== undefined,
  reloadMs,
  reloads,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
if (!process.env.KEEP) fs.rmSync(root, { recursive: true, force: true });
if (steady.errors > 0 || reloading.errors > 0 || (filled?.errors ?? 0) > 0 || (reloadMs === undefined) !== args.control)
  process.exitCode = 1;

/** Calls over 5 ms per 250 ms since the latest of `starts` before them, up to 2 s; "2000+" for the rest of a period. */
function sinceRewrite(slow, starts, periodMs) {
  const buckets = {};
  for (const [at, ms] of slow) {
    if (ms <= 5) continue;
    const start = starts.filter((t) => t <= at).at(-1);
    if (start === undefined || at - start > periodMs) continue;
    const since = at - start;
    const key = since >= 2000 ? "2000+" : String(Math.floor(since / 250) * 250);
    buckets[key] = (buckets[key] ?? 0) + 1;
  }
  return buckets;
}

/** --cycles: reloads every `periodMs` within one window; p99 while reloading against p99 between reloads. */
async function measureCycles(cycles, periodMs, rate) {
  const versions = [versionWith(200), versionWith(100)];
  /** [first rewrite, rules loaded] of each cycle's reload, in performance.now() time. */
  const intervals = [];
  let windowStart = 0;
  const result = await measure(
    () => {
      windowStart = performance.now();
      for (let c = 0; c < cycles; c++) {
        setTimeout(
          async () => {
            const before = loads().length;
            const t0 = performance.now();
            await rewrite(versions[c % 2]);
            // --control: nothing reloads; the time a reload would have taken (CONTROL_RELOAD_MS) stands in for it.
            if (args.control) setTimeout(() => intervals.push([t0, performance.now()]), CONTROL_RELOAD_MS);
            const poll = setInterval(() => {
              if (loads().length > before) {
                clearInterval(poll);
                intervals.push([t0, performance.now()]);
              }
            }, 20);
            setTimeout(() => clearInterval(poll), periodMs - 100);
          },
          c * periodMs + 500,
        );
      }
    },
    rate,
    { seconds: (cycles * periodMs) / 1000 + 1, slowMs: 1 },
  );
  proc.child.kill("SIGTERM");
  await proc.exited;
  const windowEnd = windowStart + cycles * periodMs + 1000;
  const reloadingMs = intervals.reduce((n, [a, b]) => n + (b - a), 0);
  const inReload = (at) => intervals.some(([a, b]) => at >= a && at <= b);
  /** The p99 of `calls` calls of which `slow` (latencies over 1 ms) are the slow ones; "<1" when fewer than 1%. */
  const p99 = (slow, calls) => {
    const sorted = slow.sort((a, b) => b - a);
    const rank = Math.floor(calls / 100);
    return rank < sorted.length ? +sorted[rank].toFixed(2) : "<1";
  };
  const slowIn = result.slow.filter(([at]) => inReload(at)).map(([, ms]) => ms);
  const slowOut = result.slow.filter(([at]) => at >= windowStart && !inReload(at)).map(([, ms]) => ms);
  const callsIn = (result.rps * reloadingMs) / 1000;
  const callsOut = (result.rps * (windowEnd - windowStart - reloadingMs)) / 1000;
  const p99In = p99(slowIn, callsIn);
  const p99Out = p99(slowOut, callsOut);
  const over5 = (slow, calls) => +((100 * slow.filter((ms) => ms > 5).length) / calls).toFixed(2);
  const report = {
    ...setup(rate),
    cycles,
    reloads: intervals.length,
    reloadMs: intervals.map(([a, b]) => Math.round(b - a)),
    errors: result.errors,
    betweenReloads: { calls: Math.round(callsOut), p99Ms: p99Out, over5msPct: over5(slowOut, callsOut) },
    whileReloading: { calls: Math.round(callsIn), p99Ms: p99In, over5msPct: over5(slowIn, callsIn) },
    p99Ratio: typeof p99In === "number" && typeof p99Out === "number" ? +(p99In / p99Out).toFixed(2) : undefined,
    // Where the slow calls fall: calls over 5 ms by time since their period's rewrite, in 250 ms steps, all periods
    // together (the last bucket holds the rest of the period). Against the same with --control.
    over5msSinceRewrite: sinceRewrite(
      result.slow,
      intervals.map(([a]) => a),
      periodMs,
    ),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  if (!process.env.KEEP) fs.rmSync(root, { recursive: true, force: true });
  if (result.errors > 0 || intervals.length !== cycles) process.exitCode = 1;
}
