/**
 * `npm run bench`: Sluice against the no-op @grpc/grpc-js baseline, side by side, interleaved.
 * The server under test runs alone on --server-cpu (default 0); this process (the load generator) and
 * redis-server share --load-cpu (default 1). See BENCHMARKS.md for what each column means.
 *
 *   npm run bench                              15 s per variant and workload, in 1 s alternating slices (~4 min)
 *   npm run bench -- --long                    60 s per variant and workload
 *   npm run bench -- --quick                   3 s, to check that everything runs
 *   npm run bench -- --workloads W1 --variants noop,memory --duration 10
 *   npm run bench -- --env REDIS_PIPELINE_WINDOW=150us     extra env for the service
 *   npm run bench -- --variants noop,noop-h2 --workloads W1  is the load generator fast enough?
 *   npm run bench -- --workloads W1,W2,W3 --variants noop,memory,memory-base,redis,redis-base --base /tmp/old
 *                                              this build against an earlier one (a built checkout), same slices
 *
 * Every process under test is started as `nice -n <--nice> taskset -c <cpu> ...` in the bench's own session
 * (processes.mjs relaunchPinned): pinning keeps the server alone on its core, and the raised priority keeps
 * unrelated processes on a shared machine from stealing its time (baseline and Sluice get the same treatment).
 * --no-pin disables both.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadGenerated } from "./lib/grpc-wire.mjs";
import { measureWorkload, probeFrame, unavailableReason, VARIANTS } from "./lib/measure.mjs";
import { BENCH_DIR, REPO_ROOT, RESULTS_DIR } from "./lib/paths.mjs";
import { killChildren, relaunchPinned, stopChildrenOnSignal, takeBenchLock } from "./lib/processes.mjs";
import { startRedis } from "./lib/redis.mjs";
import { aggregate, markdownTable, targets, textTable } from "./lib/report.mjs";
import { buildWorkload } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "15" },
    slice: { type: "string", default: "1" },
    warmup: { type: "string", default: "2" },
    workloads: { type: "string", default: "W1,W2,W3,W4,W5,W6" },
    variants: { type: "string", default: "noop,noop-h2,memory,redis" },
    connections: { type: "string", default: "4" },
    "in-flight": { type: "string", default: "32" },
    "w2-keys": { type: "string", default: "100000" },
    "server-cpu": { type: "string", default: "0" },
    "load-cpu": { type: "string", default: "1" },
    "no-pin": { type: "boolean", default: false },
    "no-freeze": { type: "boolean", default: false },
    nice: { type: "string", default: "-20" },
    env: { type: "string", multiple: true, default: [] },
    "node-flag": { type: "string", multiple: true, default: [] },
    "skip-memory": { type: "boolean", default: false },
    long: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    base: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]);
  process.exit(0);
}

const cfg = {
  durationMs: (args.long ? 60 : args.quick ? 3 : Number(args.duration)) * 1000,
  sliceMs: (args.quick ? 0.5 : Number(args.slice)) * 1000,
  warmupMs: (args.quick ? 0.5 : Number(args.warmup)) * 1000,
  workloads: args.workloads.split(","),
  variants: args.variants.split(","),
  pin: !args["no-pin"],
};
for (const v of cfg.variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v} (${Object.keys(VARIANTS)})`);
if (!cfg.variants.includes("noop")) console.warn("warning: no 'noop' variant, so no ratios to the baseline");

const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const outDir = path.join(RESULTS_DIR, stamp);
const ctx = {
  serverCpu: cfg.pin ? Number(args["server-cpu"]) : null,
  loadCpu: cfg.pin ? Number(args["load-cpu"]) : null,
  nice: cfg.pin ? Number(args.nice) : 0,
  connections: Number(args.connections),
  inFlight: Number(args["in-flight"]),
  warmupMs: cfg.warmupMs,
  durationMs: cfg.durationMs,
  sliceMs: cfg.sliceMs,
  freeze: !args["no-freeze"],
  logDir: path.join(outDir, "logs"),
  extraEnv: Object.fromEntries(args.env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
  nodeFlags: args["node-flag"],
  redis: undefined,
  probe: undefined,
  base: args.base === undefined ? undefined : path.resolve(args.base),
};

if (!relaunchPinned(ctx.loadCpu, ctx.nice)) {
  stopChildrenOnSignal();
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      killChildren();
      process.exit(1);
    },
  );
}

async function main() {
  await takeBenchLock((line) => console.log(line));
  const gen = await loadGenerated();
  ctx.probe = probeFrame(gen);
  const workloads = cfg.workloads.map((w) => buildWorkload(gen, w, Number(args["w2-keys"])));
  const unavailable = new Map(
    cfg.variants.flatMap((v) => (unavailableReason(v, ctx.base) ? [[v, unavailableReason(v, ctx.base)]] : [])),
  );
  printHeader(workloads, unavailable);
  const redisVariants = cfg.variants.filter((v) => VARIANTS[v].backend === "redis" && !unavailable.has(v));
  if (redisVariants.length > 0) {
    try {
      ctx.redis = await startRedis(ctx.loadCpu, ctx.logDir, ctx.nice);
    } catch (err) {
      const why = `no redis-server: ${String(err instanceof Error ? err.message : err).split("\n")[0]}`;
      for (const v of redisVariants) unavailable.set(v, why);
      console.log(`  skipping ${redisVariants.join(", ")}: ${why}`);
    }
  }
  const results = [];
  try {
    for (const w of workloads) {
      const names = cfg.variants.filter((v) => !unavailable.has(v));
      results.push(...(await measureWorkload(names, w, ctx, (line) => console.log(line))));
    }
  } finally {
    await ctx.redis?.stop();
  }
  const memory1m = args["skip-memory"] ? undefined : runMemory1m();
  return finish(results, workloads, unavailable, memory1m);
}

function printHeader(workloads, unavailable) {
  const variants = cfg.variants.filter((v) => !unavailable.has(v)).length;
  const seconds = (workloads.length * variants * (cfg.durationMs * 1.03 + cfg.warmupMs + 1500)) / 1000;
  console.log(`Sluice bench  ${new Date().toISOString()}  ${machine()}`);
  console.log(
    `  ${workloads.length} workloads x ${cfg.variants.length} variants, ${cfg.durationMs / 1000} s each in ` +
      `${cfg.sliceMs / 1000} s slices alternating between the variants (after ${cfg.warmupMs / 1000} s warm-up), ` +
      `${ctx.inFlight} in flight over ` +
      `${ctx.connections} connections; server on CPU ${ctx.serverCpu ?? "any"}, generator+Redis on CPU ` +
      `${ctx.loadCpu ?? "any"}, nice ${ctx.nice}; about ${Math.ceil(seconds / 60)} min`,
  );
  for (const [v, why] of unavailable) console.log(`  skipping ${v}: ${why}`);
  console.log(`  logs and results: ${path.relative(process.cwd(), outDir)}`);
}

function machine() {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  let redis = "?";
  try {
    redis = /v=(\S+)/.exec(execFileSync("redis-server", ["--version"]).toString())?.[1] ?? "?";
  } catch {
    // no redis-server
  }
  let commit = "?";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: REPO_ROOT }).toString();
    if (dirty.trim() !== "") commit += " + uncommitted src/ changes";
  } catch {
    // not a git checkout
  }
  return `commit ${commit}, node ${process.version}, ${cpu}, ${fs.readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length} CPUs, redis ${redis}`;
}

/** Runs memory-1m.mjs in its own process (it needs --expose-gc and a clean heap). */
function runMemory1m() {
  console.log("  memory store with 1,000,000 live keys (bench/memory-1m.mjs) ...");
  const r = spawnSync(process.execPath, ["--expose-gc", path.join(BENCH_DIR, "memory-1m.mjs"), "--json"], {
    encoding: "utf8",
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last);
  } catch {
    console.log(`  memory-1m did not run: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    return undefined;
  }
}

function finish(results, workloads, unavailable, memory1m) {
  const rows = aggregate(results);
  const labels = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.label]));
  const md = [];
  for (const w of workloads) {
    const wr = rows.filter((r) => r.workload === w.name);
    console.log(`\n${w.name}: ${w.title}\n${textTable(wr, labels)}`);
    md.push(`**${w.name}**: ${w.title}\n\n${markdownTable(wr, labels)}\n`);
  }
  if (memory1m) {
    const line = `memory store: ${memory1m.keys.toLocaleString("en")} live keys, RSS ${memory1m.rssMb.toFixed(1)} MB, heap used ${memory1m.heapUsedMb.toFixed(1)} MB (${memory1m.bytesPerKey.toFixed(0)} B/key over the empty process)`;
    console.log(`\n${line}`);
    md.push(line);
  }
  const t = targets(rows, memory1m);
  console.log("\nTargets (issue 4; throughput: median of per-cycle ratios to the baseline):");
  for (const x of t) console.log(`  ${x.status.padEnd(4)}  ${x.text.padEnd(62)} ${x.value}`);
  md.push(
    `\n| target | result | status |\n|---|---|---|\n${t.map((x) => `| ${x.text} | ${x.value} | ${x.status} |`).join("\n")}`,
  );
  for (const [v, why] of unavailable) console.log(`  NOT MEASURED: ${v}: ${why}`);
  const shared = rows.filter((r) => r.foreignPct > 5);
  if (shared.length > 0) {
    console.log(
      `WARNING: other processes took ${Math.round(Math.max(...shared.map((r) => r.foreignPct)))} % of CPU ${ctx.serverCpu} ` +
        "during some measurements (column server/other/gen): these figures are not reliable",
    );
  }
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(
    path.join(outDir, "results.json"),
    JSON.stringify({ cfg, machine: machine(), results, memory1m }, null, 1),
  );
  fs.writeFileSync(path.join(outDir, "report.md"), `${md.join("\n")}\n`);
  console.log(`\nresults: ${path.relative(process.cwd(), path.join(outDir, "results.json"))}, report.md`);
  const invalid = results.some((r) => r.failed || r.errors > 0 || r.wrongDecisions > 0);
  if (invalid) console.log("RUN INVALID: some responses failed verification or a server could not be measured");
  return invalid || unavailable.size > 0 ? 1 : 0;
}
