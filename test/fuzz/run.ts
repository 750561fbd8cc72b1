/**
 * `npm run fuzz`: the full fuzz run (issue 12) against the real service started in-process with the memory backend.
 * Seeded and reproducible: FUZZ_SEED (default 20261204) and FUZZ_SCALE (default 1 = 100,000 inputs: 40,000 gRPC
 * messages, 5,000 HTTP/2 frame sequences, 15,000 /json bodies, 40,000 rule files). Prints one JSON line with the
 * inputs run, the time taken and RSS before, at the peak and after; exits 1 on the first failure (fast-check prints
 * the counterexample and the seed to replay it) or if RSS after the run exceeds RSS before by more than 200 MB.
 */

import { startHarness } from "../helpers/service.js";
import { FUZZ_RULES, fuzzGrpcMessages, fuzzH2Frames, fuzzJsonBodies, fuzzRuleFiles } from "./targets.js";

const seed = Number(process.env["FUZZ_SEED"] ?? 20261204);
const scale = Number(process.env["FUZZ_SCALE"] ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * scale));
const MAX_RSS_GROWTH_MB = 200;

const mb = (): number => Math.round(process.memoryUsage().rss / 1024 / 1024);
/** The JS heap (used, committed) in MB: tells retained objects apart from memory the allocator keeps. */
const heapMb = (): { used: number; total: number } => {
  const m = process.memoryUsage();
  return { used: Math.round(m.heapUsed / 1024 / 1024), total: Math.round(m.heapTotal / 1024 / 1024) };
};
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, mb());
}, 250);
const t0 = performance.now();
const before = mb();
const heapBefore = heapMb();
const h = await startHarness({ rules: { "config.yaml": FUZZ_RULES } });
const counts: Record<string, number> = {};
try {
  counts["grpcMessages"] = await fuzzGrpcMessages(h, { seed, numRuns: runs(40_000) });
  counts["h2Frames"] = await fuzzH2Frames(h, { seed, numRuns: runs(5_000) });
  counts["jsonBodies"] = await fuzzJsonBodies(h, { seed, numRuns: runs(15_000) });
  counts["ruleFiles"] = fuzzRuleFiles({ seed, numRuns: runs(40_000) });
} finally {
  await h.close();
  clearInterval(sampler);
}
globalThis.gc?.();
const after = mb();
const heapAfter = heapMb();
const total = Object.values(counts).reduce((a, b) => a + b, 0);
const report = {
  seed,
  scale,
  total,
  counts,
  seconds: Math.round((performance.now() - t0) / 1000),
  rssMb: { before, peak, after },
  heapMb: { before: heapBefore, after: heapAfter },
};
process.stdout.write(`${JSON.stringify(report)}\n`);
if (after - before > MAX_RSS_GROWTH_MB) {
  process.stderr.write(`RSS grew by ${after - before} MB (limit ${MAX_RSS_GROWTH_MB} MB)\n`);
  process.exitCode = 1;
}
