#!/usr/bin/env node
/**
 * What loading N rules costs, step by step, in this process (no service, no load): reading the YAML with Sluice's
 * plain reader against the `yaml` library (the ratio is the figure; both in the same run), the schema walk, the
 * whole compile (what the parse worker does to check the files), packing, and compiling one top-level item on first
 * use (what the serving thread pays per item after a reload). First, the parse worker's whole job through the real
 * parser (reload/parse-off-loop.ts), each load's wall time and the process's CPU (V8's helper threads included), for
 * the rules as written, which it reads one top-level item at a time, and for the same rules indented by one space,
 * which it reads a file at a time, and the process's RSS after those loads and after the worker is stopped. Run
 * `npx tsc -p tsconfig.json` first.
 *
 *   node bench/rule-load.mjs [--rules 50000] [--rounds 5]
 */
import { parseArgs } from "node:util";
import { parseDocument } from "yaml";
import { createRuleParser } from "../dist/reload/parse-off-loop.js";
import { compileParsed } from "../dist/rules/compile.js";
import { packRules } from "../dist/rules/pack.js";
import { ruleSetFromPacked } from "../dist/rules/packed-rule-set.js";
import { readPlainYaml } from "../dist/rules/plain-yaml.js";
import { parseRuleFile } from "../dist/rules/schema.js";

const { values: args } = parseArgs({
  options: { rules: { type: "string", default: "50000" }, rounds: { type: "string", default: "5" } },
});
const RULES = Number(args.rules);
const PER_FILE = 8_334; // six files for 50,000 rules
const files = [];
for (let n = 0; n * PER_FILE < RULES; n++) {
  let text = `domain: big${n}\ndescriptors:\n`;
  for (let i = 0; i < Math.min(PER_FILE, RULES - n * PER_FILE); i++) {
    text += `  - key: user\n    value: u${i}\n    rate_limit: { unit: minute, requests_per_unit: 100 }\n`;
  }
  files.push({ name: `big${n}.yaml`, text });
}
const opts = { mergeDomainConfig: false };

/** The worker's job for `input`, `rounds` loads in one kept worker: the first load (a new worker) and the rest. */
async function workerJob(input, rounds) {
  const parser = createRuleParser();
  const loads = [];
  for (let round = 0; round < rounds; round++) {
    const bytes = input.map((f) => ({ name: f.name, bytes: new TextEncoder().encode(f.text) }));
    const t = performance.now();
    const cpu = process.cpuUsage();
    await parser.load(bytes, 1_000_000, false);
    const used = process.cpuUsage(cpu);
    loads.push({ ms: Math.round(performance.now() - t), cpuMs: Math.round((used.user + used.system) / 1000) });
  }
  const rssMB = () => Math.round(process.memoryUsage().rss / 1048576);
  // The process's memory with the worker as the loads left it, then without it.
  const rssAfterLoadsMB = rssMB();
  await parser.close();
  const [first, ...rest] = loads;
  const later = { ms: median(rest.map((l) => l.ms)), cpuMs: median(rest.map((l) => l.cpuMs)) };
  return { first, later, rssAfterLoadsMB, rssClosedMB: rssMB() };
}
const time = (fn) => {
  const t = performance.now();
  const out = fn();
  return [performance.now() - t, out];
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Valid YAML with the same rules, but not the layout the worker reads item by item.
const indented = files.map((f) => ({ name: f.name, text: f.text.replace(/^/gm, " ").trimEnd() }));
const worker = {
  itemByItem: await workerJob(files, Number(args.rounds) + 1),
  fileByFile: await workerJob(indented, Number(args.rounds) + 1),
};
const rows = { yaml: [], plain: [], parseRuleFile: [], compile: [], pack: [], firstUseUs: [] };
for (let round = 0; round < Number(args.rounds); round++) {
  rows.yaml.push(time(() => files.map((f) => parseDocument(f.text, { version: "1.1", intAsBigInt: true })))[0]);
  rows.plain.push(time(() => files.map((f) => readPlainYaml(f.text)))[0]);
  const [parseMs, parsed] = time(() => files.map((f) => parseRuleFile(f)));
  rows.parseRuleFile.push(parseMs);
  rows.compile.push(time(() => compileParsed(files, parsed, opts))[0]);
  const [packMs, packed] = time(() => packRules(files, parsed, opts));
  rows.pack.push(packMs);
  const set = ruleSetFromPacked(packed);
  const items = Math.min(PER_FILE, RULES);
  const [useMs] = time(() => {
    for (let i = 0; i < items; i++) set.findRule("big0", [{ key: "user", value: `u${i}` }]);
  });
  rows.firstUseUs.push((useMs * 1000) / items);
}
const out = Object.fromEntries(
  Object.entries(rows).map(([k, v]) => [k, +median(v).toFixed(k === "firstUseUs" ? 1 : 0)]),
);
console.log(
  JSON.stringify({
    rules: RULES,
    medianOf: Number(args.rounds),
    ms: {
      yaml: out.yaml,
      plainReader: out.plain,
      parseRuleFile: out.parseRuleFile,
      compile: out.compile,
      packIncludingCompile: out.pack,
    },
    parseWorker: worker,
    plainReaderSpeedup: +(out.yaml / out.plain).toFixed(1),
    firstUsePerItemUs: out.firstUseUs,
  }),
);
