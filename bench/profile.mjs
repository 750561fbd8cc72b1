/**
 * CPU profile of a server under load: starts it (same pinning as `npm run bench`) with
 * `node --cpu-prof`, drives one workload, stops it with SIGTERM (the profile is written at exit) and prints the
 * functions with the most self time, grouped by area (dist/<layer>, node_modules/<pkg>, node:<module>, GC).
 *
 *   node bench/profile.mjs                               Sluice, memory backend, W1, 10 s
 *   node bench/profile.mjs --variant redis --workload W2 --duration 20
 *   node bench/profile.mjs --variant noop                the baseline, to see what the transport alone costs
 *   node bench/profile.mjs --variant memory-base --base /tmp/old   an earlier build (a built checkout)
 *   node bench/profile.mjs --node-flags "--trace-gc-nvp"   more node flags for the server (output in its log)
 *   node bench/profile.mjs --summarize <file.cpuprofile> summary of an existing profile
 *
 * Profiles and summaries go to bench/results/profiles/.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { formatSummary, summarizeProfile } from "./lib/cpuprofile-summary.mjs";
import { loadGenerated } from "./lib/grpc-wire.mjs";
import { measureWorkload, probeFrame, unavailableReason, VARIANTS } from "./lib/measure.mjs";
import { RESULTS_DIR } from "./lib/paths.mjs";
import { killChildren, relaunchPinned, stopChildrenOnSignal, takeBenchLock } from "./lib/processes.mjs";
import { startRedis } from "./lib/redis.mjs";
import { buildWorkload } from "./lib/workloads.mjs";

const { values: args } = parseArgs({
  options: {
    variant: { type: "string", default: "memory" },
    workload: { type: "string", default: "W1" },
    duration: { type: "string", default: "10" },
    interval: { type: "string", default: "250" },
    top: { type: "string", default: "30" },
    summarize: { type: "string" },
    base: { type: "string" },
    "node-flags": { type: "string", default: "" },
    "no-pin": { type: "boolean", default: false },
    nice: { type: "string", default: "-20" },
  },
});

const pin = !args["no-pin"];
const profDir = path.join(RESULTS_DIR, "profiles");

if (args.summarize) {
  console.log(formatSummary(summarizeProfile(args.summarize), Number(args.top)));
} else if (!relaunchPinned(pin ? 1 : null, pin ? Number(args.nice) : 0)) {
  stopChildrenOnSignal();
  profile().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      killChildren();
      process.exit(1);
    },
  );
}

async function profile() {
  await takeBenchLock((line) => console.log(line));
  const variant = args.variant;
  if (!VARIANTS[variant]) throw new Error(`unknown variant ${variant}`);
  const base = args.base === undefined ? undefined : path.resolve(args.base);
  const why = unavailableReason(variant, base);
  if (why) throw new Error(why);
  const name = `${variant}-${args.workload}-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  const dir = path.join(profDir, name);
  const gen = await loadGenerated();
  const ctx = {
    serverCpu: pin ? 0 : null,
    loadCpu: pin ? 1 : null,
    nice: pin ? Number(args.nice) : 0,
    connections: 4,
    inFlight: 32,
    warmupMs: 1000,
    durationMs: Number(args.duration) * 1000,
    sliceMs: Number(args.duration) * 1000,
    freeze: false,
    logDir: dir,
    extraEnv: {},
    base,
    nodeFlags: [
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      `--cpu-prof-interval=${args.interval}`,
      ...args["node-flags"].split(" ").filter(Boolean),
    ],
    probe: probeFrame(gen),
    redis:
      VARIANTS[variant].backend === "redis"
        ? await startRedis(pin ? 1 : null, dir, pin ? Number(args.nice) : 0)
        : undefined,
  };
  let result;
  try {
    [result] = await measureWorkload([variant], buildWorkload(gen, args.workload), ctx, () => {});
  } finally {
    await ctx.redis?.stop();
  }
  if (result.failed) throw new Error(result.failed);
  const slice = result.slices[0];
  console.log(
    `${VARIANTS[variant].label}, ${args.workload}: ${Math.round(slice.rps)} req/s under the profiler, ` +
      `${slice.serverCpuUsPerReq.toFixed(1)} us CPU/req, ${result.errors + result.wrongDecisions} bad responses`,
  );
  const file = fs.readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: the server must exit on SIGTERM for --cpu-prof to write it`);
  const text = formatSummary(summarizeProfile(path.join(dir, file)), Number(args.top), result.verified);
  fs.writeFileSync(path.join(dir, "summary.txt"), `${text}\n`);
  console.log(`${text}\n\nprofile: ${path.relative(process.cwd(), path.join(dir, file))} (open in Chrome DevTools)`);
  return 0;
}
