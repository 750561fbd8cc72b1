/**
 * Turns the measurement records into the tables `npm run bench` prints (and a Markdown copy for BENCHMARKS.md):
 * per workload and variant the medians over rounds, ratios to the no-op baseline of the SAME round (then the
 * median of those ratios, so slow drifts of the machine cancel), and the targets of issue 4 as PASS/FAIL.
 */

const BASE = "noop";

/** @param {number[]} xs */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Per (workload, variant): medians of the raw figures and of the per-round ratios to the baseline. */
export function aggregate(records) {
  const ok = records.filter((r) => !r.failed);
  const rows = new Map();
  for (const r of records) {
    const key = `${r.workload}/${r.variant}`;
    if (!rows.has(key)) rows.set(key, { workload: r.workload, variant: r.variant, runs: [], failures: [] });
    const row = rows.get(key);
    if (r.failed) row.failures.push(r.failed);
    else row.runs.push(r);
  }
  for (const row of rows.values()) {
    const ratios = row.runs.map((r) => {
      const base = ok.find((b) => b.variant === BASE && b.workload === r.workload && b.round === r.round);
      return base
        ? { rps: r.rps / base.rps, p99: r.p99Us / base.p99Us, cpu: r.serverCpuUsPerReq / base.serverCpuUsPerReq }
        : { rps: Number.NaN, p99: Number.NaN, cpu: Number.NaN };
    });
    const med = (f) => median(row.runs.map(f));
    Object.assign(row, {
      rps: med((r) => r.rps),
      p50Us: med((r) => r.p50Us),
      p99Us: med((r) => r.p99Us),
      cpuUs: med((r) => r.serverCpuUsPerReq),
      serverCpuPct: med((r) => r.serverCpuPct),
      foreignPct: med((r) => r.foreignCpuPct),
      genCpuPct: med((r) => r.genCpuPct),
      redisCmds: med((r) => r.redisCmdsPerReq ?? Number.NaN),
      redisCpuUs: med((r) => r.redisCpuUsPerReq ?? Number.NaN),
      redisReads: med((r) => r.redisReadsPerReq ?? Number.NaN),
      rpsRatio: median(ratios.map((x) => x.rps)),
      rpsRatioMin: Math.min(...ratios.map((x) => x.rps)),
      rpsRatioMax: Math.max(...ratios.map((x) => x.rps)),
      p99Ratio: median(ratios.map((x) => x.p99)),
      cpuRatio: median(ratios.map((x) => x.cpu)),
      verified: row.runs.reduce((a, r) => a + r.verified, 0),
      bad: row.runs.reduce((a, r) => a + r.errors + r.wrongDecisions, 0),
      okShare:
        row.runs.reduce((a, r) => a + r.ok, 0) /
        Math.max(
          1,
          row.runs.reduce((a, r) => a + r.ok + r.over, 0),
        ),
    });
  }
  return [...rows.values()];
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en") : "-");
const ms = (us) => fmt(us / 1000, 2);

const COLUMNS = [
  ["variant", (r, labels) => labels[r.variant] ?? r.variant],
  ["req/s", (r) => int(r.rps)],
  [
    "x base",
    (r) => (r.runs.length > 1 ? `${fmt(r.rpsRatio)} (${fmt(r.rpsRatioMin)}-${fmt(r.rpsRatioMax)})` : fmt(r.rpsRatio)),
  ],
  ["p50 ms", (r) => ms(r.p50Us)],
  ["p99 ms", (r) => ms(r.p99Us)],
  ["p99 x base", (r) => fmt(r.p99Ratio)],
  ["CPU us/req", (r) => fmt(r.cpuUs, 1)],
  ["CPU x base", (r) => fmt(r.cpuRatio)],
  ["Redis cmd/req", (r) => fmt(r.redisCmds, 3)],
  ["Redis CPU us/req", (r) => fmt(r.redisCpuUs, 1)],
  ["Redis reads/req", (r) => fmt(r.redisReads, 3)],
  ["OK %", (r) => (r.runs.length ? fmt(r.okShare * 100, 1) : "-")],
  ["server/other/gen CPU %", (r) => `${fmt(r.serverCpuPct, 0)}/${fmt(r.foreignPct, 0)}/${fmt(r.genCpuPct, 0)}`],
  [
    "checked",
    (r) => (r.failures.length ? `FAILED: ${r.failures[0]}` : r.bad ? `${int(r.bad)} BAD` : `${int(r.verified)} ok`),
  ],
];

/** Rows of cells for one workload's table. */
function cells(rows, labels) {
  return rows.map((r) => COLUMNS.map(([, f]) => String(f(r, labels))));
}

/** A plain-text table (for the terminal). */
export function textTable(rows, labels) {
  const head = COLUMNS.map(([h]) => h);
  const body = cells(rows, labels);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").slice(0, 60).length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), ...body.map((row) => line(row.map((c) => c.slice(0, 60))))].join("\n");
}

/** The same table in Markdown. */
export function markdownTable(rows, labels) {
  const head = COLUMNS.map(([h]) => h);
  const body = cells(rows, labels);
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/**
 * The issue-4 targets, evaluated on the aggregated rows. `memory1m` is the memory-1m.mjs result (or undefined).
 * @returns {{ status: "PASS" | "FAIL" | "n/a", text: string, value: string }[]}
 */
export function targets(rows, memory1m) {
  const row = (w, v) => rows.find((r) => r.workload === w && r.variant === v && r.runs.length > 0);
  const out = [];
  const check = (text, value, pass, shown) => {
    out.push({
      status: value === undefined || !Number.isFinite(value) ? "n/a" : pass ? "PASS" : "FAIL",
      text,
      value: shown,
    });
  };
  const ratio = (w, v, min, text) => {
    const r = row(w, v)?.rpsRatio;
    check(text, r, r >= min, `${fmt(r)}x`);
  };
  ratio("W1", "redis", 0.9, "Redis W1 req/s >= 0.90x baseline");
  ratio("W2", "redis", 0.75, "Redis W2 req/s >= 0.75x baseline");
  ratio("W3", "redis", 0.95, "Redis W3 (local cache) req/s >= 0.95x baseline");
  ratio("W1", "memory", 0.95, "memory W1 req/s >= 0.95x baseline");
  for (const v of ["memory", "redis"]) {
    for (const w of ["W1", "W2", "W3"]) {
      const r = row(w, v)?.p99Ratio;
      check(`${v} ${w} p99 <= 1.5x baseline p99`, r, r <= 1.5, `${fmt(r)}x`);
    }
  }
  for (const [w, descriptors] of [
    ["W1", 1],
    ["W2", 3],
  ]) {
    const r = row(w, "redis")?.redisCmds;
    check(
      `Redis ${w} commands per descriptor < 2 (reference: INCRBY+EXPIRE)`,
      r,
      r / descriptors < 2,
      fmt(r / descriptors, 3),
    );
  }
  for (const w of ["W1", "W2", "W3"]) {
    const r = row(w, "redis")?.redisReads;
    check(`Redis ${w} read events per request <= 1 (round trips)`, r, r <= 1, fmt(r, 3));
  }
  const w3 = row("W3", "redis")?.redisCmds;
  check("Redis W3 with local cache <= 0.05 commands per request", w3, w3 <= 0.05, fmt(w3, 4));
  const rss = memory1m?.rssMb;
  check("memory store, 1,000,000 live keys < 200 MB RSS", rss, rss < 200 && memory1m?.allLive, `${fmt(rss, 1)} MB`);
  return out;
}
