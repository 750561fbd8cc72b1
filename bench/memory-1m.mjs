/**
 * Proves the memory store holds 1,000,000 live keys in under 200 MB RSS (issue 4). Keys look like real cache keys
 * (`bench_ip_10.1.2.3_<windowStart>`, built on the fly so this script holds none of them itself); every key is
 * applied once, memory is read after a full GC, and then every key is read back (hits 0) to prove none was evicted.
 *
 *   node --expose-gc bench/memory-1m.mjs [--keys 1000000] [--json] [--store dist/store/memory-store.js]
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { distPath } from "./lib/paths.mjs";

const { values: args } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    json: { type: "boolean", default: false },
    store: { type: "string", default: distPath("store/memory-store.js") },
  },
});
const KEYS = Number(args.keys);
const LIMIT_MB = 200;
const BATCH = 1000;

const { createMemoryStore } = await import(pathToFileURL(args.store).href);
const { overrideLimit } = await import(pathToFileURL(distPath("rules/limit-keys.js")).href);

const mb = (bytes) => bytes / 1024 / 1024;
function gcAndMeasure() {
  if (typeof globalThis.gc !== "function") throw new Error("run with node --expose-gc");
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external + m.arrayBuffers };
}

const nowMs = Date.now();
const windowSeconds = 3600;
const windowStartSeconds = Math.floor(nowMs / 1000 / windowSeconds) * windowSeconds;
const limit = overrideLimit(1000, "hour");

/** The CounterOp of key i (domain/types.ts), as the engine builds it for an hourly per-IP rule. */
function op(i, hits) {
  return {
    key: `bench_ip_10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}_${windowStartSeconds}`,
    hits,
    negative: false,
    limit,
    nowMs,
    windowStartSeconds,
    group: 1,
  };
}

async function applyAll(store, hits, check) {
  for (let start = 0; start < KEYS; start += BATCH) {
    const ops = [];
    for (let i = start; i < Math.min(KEYS, start + BATCH); i++) ops.push(op(i, hits));
    const outcomes = await store.apply(ops);
    if (check) {
      for (const v of outcomes) check(v);
    }
  }
}

const empty = gcAndMeasure();
const store = createMemoryStore({ clock: { nowMs: () => nowMs }, maxKeys: KEYS });
const t0 = performance.now();
await applyAll(store, 1, undefined);
const insertMs = performance.now() - t0;
const full = gcAndMeasure();
let missing = 0;
await applyAll(store, 0, (v) => {
  if (v.used !== 1) missing++;
});
await store.close();

const result = {
  keys: KEYS,
  rssMb: mb(full.rss),
  rssEmptyMb: mb(empty.rss),
  heapUsedMb: mb(full.heapUsed),
  heapTotalMb: mb(full.heapTotal),
  externalMb: mb(full.external),
  bytesPerKey: (full.rss - empty.rss) / KEYS,
  insertNsPerKey: (insertMs * 1e6) / KEYS,
  missing,
  allLive: missing === 0,
  pass: missing === 0 && mb(full.rss) < LIMIT_MB,
};
if (args.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`memory store with ${KEYS.toLocaleString("en")} live keys (node ${process.version})`);
  console.log(`  RSS        ${result.rssMb.toFixed(1)} MB (empty process ${result.rssEmptyMb.toFixed(1)} MB)`);
  console.log(
    `  heap used  ${result.heapUsedMb.toFixed(1)} MB of ${result.heapTotalMb.toFixed(1)} MB, external ${result.externalMb.toFixed(1)} MB`,
  );
  console.log(`  per key    ${result.bytesPerKey.toFixed(0)} B RSS, ${result.insertNsPerKey.toFixed(0)} ns to insert`);
  console.log(`  read back  ${KEYS - missing} of ${KEYS} keys still counted`);
  console.log(`${result.pass ? "PASS" : "FAIL"}: RSS ${result.pass ? "<" : ">="} ${LIMIT_MB} MB with every key live`);
}
process.exitCode = result.pass ? 0 : 1;
