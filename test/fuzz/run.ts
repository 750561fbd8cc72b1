/**
 * `npm run fuzz`: the full fuzz run (issue 12) against the built service (`node dist/main.js`, memory backend) in its
 * own process, so the memory bound is the service's alone: the harness's own memory (fast-check, its clients) is
 * reported beside it but bounds nothing. The rule-file target runs the loader in this process.
 * Seeded and reproducible: FUZZ_SEED (default 20261204) and FUZZ_SCALE (default 1 = 100,000 inputs: 40,000 gRPC
 * messages, 5,000 HTTP/2 frame sequences, 15,000 /json bodies, 40,000 rule files). Prints one JSON line with the
 * inputs run, the time taken and the service's RSS before, at the peak and after; exits 1 on the first failure
 * (fast-check prints the counterexample and the seed to replay it), if the service dies or exits other than 0 on
 * SIGTERM, or if its RSS after the run exceeds its RSS before by more than 200 MB.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rssMb } from "../helpers/procfs.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";
import { FUZZ_RULES, fuzzGrpcMessages, fuzzH2Frames, fuzzJsonBodies, fuzzRuleFiles } from "./targets.js";

const seed = Number(process.env["FUZZ_SEED"] ?? 20261204);
const scale = Number(process.env["FUZZ_SCALE"] ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * scale));
const MAX_RSS_GROWTH_MB = 200;
/** After the last input: time for the service to finish closing the hostile connections before RSS is read. */
const SETTLE_MS = 5_000;

buildDist();
const root = mkdtempSync(join(tmpdir(), "sluice-fuzz-"));
mkdirSync(join(root, "ratelimit", "config"), { recursive: true });
writeFileSync(join(root, "ratelimit", "config", "config.yaml"), FUZZ_RULES);
const service = new SluiceProcess({
  ...LOOPBACK_ENV,
  BACKEND_TYPE: "memory",
  WORKERS: "1",
  RUNTIME_ROOT: root,
  RUNTIME_SUBDIRECTORY: "ratelimit",
  LOG_LEVEL: "warn",
});
const started = await service.started(30_000);
const endpoints = { grpcTarget: started.grpc, httpUrl: `http://${started.http}` };

const rss = { before: rssMb(service.pid), peak: 0, after: 0 };
const harnessRss = { before: rssMb(process.pid), peak: 0 };
const sampler = setInterval(() => {
  if (service.child.exitCode !== null || service.child.signalCode !== null) return;
  rss.peak = Math.max(rss.peak, rssMb(service.pid));
  harnessRss.peak = Math.max(harnessRss.peak, rssMb(process.pid));
}, 250);
const t0 = performance.now();
const counts: Record<string, number> = {};
let exit: Awaited<typeof service.exited> | undefined;
try {
  counts["grpcMessages"] = await fuzzGrpcMessages(endpoints, { seed, numRuns: runs(40_000) });
  counts["h2Frames"] = await fuzzH2Frames(endpoints, { seed, numRuns: runs(5_000) });
  counts["jsonBodies"] = await fuzzJsonBodies(endpoints, { seed, numRuns: runs(15_000) });
  counts["ruleFiles"] = fuzzRuleFiles({ seed, numRuns: runs(40_000) });
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  rss.after = rssMb(service.pid);
} finally {
  clearInterval(sampler);
  exit = await service.stop();
  rmSync(root, { recursive: true, force: true });
}
const total = Object.values(counts).reduce((a, b) => a + b, 0);
const report = {
  seed,
  scale,
  total,
  counts,
  seconds: Math.round((performance.now() - t0) / 1000),
  serviceRssMb: rss,
  harnessRssMb: harnessRss,
  serviceExit: exit,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
if (exit.code !== 0) {
  process.stderr.write(`the service exited with ${JSON.stringify(exit)}, not 0:\n${service.output().slice(-4000)}\n`);
  process.exitCode = 1;
}
if (rss.after - rss.before > MAX_RSS_GROWTH_MB) {
  process.stderr.write(`service RSS grew by ${rss.after - rss.before} MB (limit ${MAX_RSS_GROWTH_MB} MB)\n`);
  process.exitCode = 1;
}
