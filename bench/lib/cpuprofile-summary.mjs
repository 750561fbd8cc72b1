/**
 * Self-time summary of a V8 .cpuprofile (node --cpu-prof): which functions the server spent its samples in, and
 * how that splits between our code (dist/), dependencies (node_modules/<pkg>), Node internals, and GC.
 */
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./paths.mjs";

/** Where a function lives, for the per-category totals. */
function category(url, name) {
  if (!url) return name.startsWith("(") ? name : "(native)";
  const clean = url.replace(/^file:\/\//, "");
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(clean);
  if (nm) return nm[1];
  if (clean.startsWith("node:")) return `node:${clean.slice(5).split("/")[1] ?? clean.slice(5)}`;
  if (clean.startsWith(REPO_ROOT)) {
    const rel = path.relative(REPO_ROOT, clean);
    const parts = rel.split(path.sep);
    return parts[0] === "dist" ? `dist/${parts[1]?.replace(/\.js$/, "") ?? ""}` : parts[0];
  }
  return "(other)";
}

function location(url, line) {
  if (!url) return "";
  const clean = url.replace(/^file:\/\//, "");
  const short = clean.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, clean) : clean.replace(/.*node_modules\//, "");
  return `${short}:${line + 1}`;
}

/**
 * @param {string} file a .cpuprofile
 * @returns {{ totalMs: number, idleMs: number, functions: {name: string, where: string, cat: string, ms: number}[],
 *   categories: {cat: string, ms: number}[] }}
 */
export function summarizeProfile(file) {
  const profile = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const fns = new Map();
  const cats = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const name = functionName || "(anonymous)";
    if (name === "(idle)") {
      idle += us;
      continue;
    }
    total += us;
    const key = `${name}@${url}:${lineNumber}`;
    const cat = category(url, name);
    const f = fns.get(key) ?? { name, where: location(url, lineNumber), cat, ms: 0 };
    f.ms += us / 1000;
    fns.set(key, f);
    cats.set(cat, (cats.get(cat) ?? 0) + us / 1000);
  }
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    functions: [...fns.values()].sort((a, b) => b.ms - a.ms),
    categories: [...cats].map(([cat, ms]) => ({ cat, ms })).sort((a, b) => b.ms - a.ms),
  };
}

/**
 * Text report: the per-area totals and the top `n` functions by self time; with `requests` (calls answered while
 * profiling) also microseconds per request, which is what compares across variants.
 */
export function formatSummary(s, n = 30, requests = 0) {
  const pct = (ms) => `${((ms / s.totalMs) * 100).toFixed(1).padStart(5)}%`;
  const per = (ms) => (requests > 0 ? `${((ms * 1000) / requests).toFixed(2).padStart(7)} us/req` : "");
  const head = `busy ${s.totalMs.toFixed(0)} ms sampled (idle ${s.idleMs.toFixed(0)} ms)`;
  const lines = [requests > 0 ? `${head}, ${requests} requests: ${per(s.totalMs)}` : head, "", "self time by area:"];
  for (const c of s.categories.slice(0, 20)) lines.push(`  ${pct(c.ms)} ${per(c.ms)}  ${c.cat}`);
  lines.push("", `top ${n} functions by self time:`);
  for (const f of s.functions.slice(0, n)) {
    lines.push(`  ${pct(f.ms)} ${per(f.ms)}  ${f.name.padEnd(36)} ${f.cat.padEnd(22)} ${f.where}`);
  }
  return lines.join("\n");
}
