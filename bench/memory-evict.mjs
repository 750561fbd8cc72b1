/**
 * Eviction cost of the memory store past MEMORY_MAX_KEYS (issue 12, defect 3): fills a store capped at --cap keys,
 * then keeps inserting new keys (--batch per call) until --evictions keys have been evicted, and prints the time per
 * call and the wheel steps per eviction for each tenth of the run. Constant-time eviction shows as flat columns.
 *
 *   npm run build && node bench/memory-evict.mjs [--cap 100000] [--evictions 1000000] [--batch 1024]
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { distPath } from "./lib/paths.mjs";

const { values: args } = parseArgs({
  options: {
    cap: { type: "string", default: "100000" },
    evictions: { type: "string", default: "1000000" },
    batch: { type: "string", default: "1024" },
  },
});
const CAP = Number(args.cap);
const EVICTIONS = Number(args.evictions);
const BATCH = Number(args.batch);

const { createMemoryStore } = await import(pathToFileURL(distPath("store/memory-store.js")).href);
const { overrideLimit } = await import(pathToFileURL(distPath("rules/limit-keys.js")).href);

const nowMs = Date.now();
const limit = overrideLimit(1000, "hour");
const windowStartSeconds = Math.floor(nowMs / 3_600_000) * 3600;
let next = 0;
function batch() {
  const ops = new Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    ops[i] = {
      key: `evict_${next++}_${windowStartSeconds}`,
      hits: 1,
      negative: false,
      limit,
      nowMs,
      windowStartSeconds,
      group: 1,
    };
  }
  return ops;
}

const store = createMemoryStore({ clock: { nowMs: () => nowMs }, maxKeys: CAP });
while (next < CAP) await store.apply(batch());
console.log(`memory store capped at ${CAP.toLocaleString("en")} keys, ${BATCH} new keys per call`);
console.log("evictions so far | ms per call | wheel steps per eviction");
const tenth = EVICTIONS / 10;
let mark = tenth;
let calls = 0;
let t0 = performance.now();
let steps0 = store.evictionSteps;
let ev0 = store.evictions;
const rows = [];
while (store.evictions < EVICTIONS) {
  await store.apply(batch());
  calls++;
  if (store.evictions >= mark) {
    const ms = (performance.now() - t0) / calls;
    const perEviction = (store.evictionSteps - steps0) / (store.evictions - ev0);
    rows.push({ evictions: store.evictions, ms, perEviction });
    console.log(`${String(store.evictions).padStart(17)} | ${ms.toFixed(3).padStart(11)} | ${perEviction.toFixed(3)}`);
    mark += tenth;
    calls = 0;
    t0 = performance.now();
    steps0 = store.evictionSteps;
    ev0 = store.evictions;
  }
}
const first = rows[0];
const last = rows[rows.length - 1];
console.log(
  `last tenth / first tenth: ${(last.ms / first.ms).toFixed(2)}x time per call, ${(last.perEviction / first.perEviction).toFixed(2)}x steps per eviction`,
);
