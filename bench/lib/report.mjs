/**
 * Turns the measurements into the tables `npm run bench` prints (and a Markdown copy for BENCHMARKS.md): per
 * workload and variant, throughput ratios to the no-op baseline of the SAME cycle (then the median of those ratios,
 * so drifts of the machine cancel), CPU, Redis and latency figures, and the targets of issue 4 as PASS/FAIL.
 */

const BASE = "noop";

/** @param {number[]} xs */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function quantile(xs, q) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const i = (v.length - 1) * q;
  const lo = Math.floor(i);
  return v[lo] + ((v[Math.ceil(i)] ?? v[lo]) - v[lo]) * (i - lo);
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/**
 * Per (workload, variant) result of measure.mjs: throughput as the median over slices, the ratio to the baseline
 * as the median (and quartiles) of per-cycle ratios, CPU and Redis figures as totals over all slices divided by all
 * requests, latency percentiles over all recorded calls.
 */
export function aggregate(results) {
  const rows = results.map((r) => ({ ...r, runs: r.failed ? [] : r.slices, failures: r.failed ? [r.failed] : [] }));
  for (const row of rows) {
    const base = rows.find((b) => b.variant === BASE && b.workload === row.workload);
    const ratios = row.runs.map((sl) => {
      const b = base?.runs.find((x) => x.cycle === sl.cycle);
      return b ? sl.rps / b.rps : Number.NaN;
    });
    const requests = sum(row.runs.map((x) => x.requests)) || Number.NaN;
    const redisTotal = (f) =>
      row.runs.some((x) => x[f] !== undefined) ? sum(row.runs.map((x) => x[f] ?? 0)) : Number.NaN;
    Object.assign(row, {
      rps: median(row.runs.map((x) => x.rps)),
      rpsRatio: median(ratios),
      rpsRatioLo: quantile(ratios, 0.25),
      rpsRatioHi: quantile(ratios, 0.75),
      cpuUs: (sum(row.runs.map((x) => x.serverCpuSeconds)) * 1e6) / requests,
      serverCpuPct: median(row.runs.map((x) => x.serverCpuPct)),
      foreignPct: median(row.runs.map((x) => x.foreignCpuPct)),
      genCpuPct: median(row.runs.map((x) => x.genCpuPct)),
      redisCmds: redisTotal("redisCmds") / requests,
      redisCpuUs: (redisTotal("redisCpuSeconds") * 1e6) / requests,
      redisReads: redisTotal("redisReads") / requests,
      bad: (row.errors ?? 0) + (row.wrongDecisions ?? 0),
      okShare: (row.ok ?? 0) / Math.max(1, (row.ok ?? 0) + (row.over ?? 0)),
    });
  }
  for (const row of rows) {
    const base = rows.find((b) => b.variant === BASE && b.workload === row.workload);
    row.p99Ratio = base ? row.p99Us / base.p99Us : Number.NaN;
    row.cpuRatio = base ? row.cpuUs / base.cpuUs : Number.NaN;
  }
  return rows;
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en") : "-");
const ms = (us) => fmt(us / 1000, 2);

const COLUMNS = [
  ["variant", (r, labels) => labels[r.variant] ?? r.variant],
  ["req/s", (r) => int(r.rps)],
  [
    "x base (IQR)",
    (r) => (r.runs.length > 1 ? `${fmt(r.rpsRatio)} (${fmt(r.rpsRatioLo)}-${fmt(r.rpsRatioHi)})` : fmt(r.rpsRatio)),
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
  // Issue 11: TLS with client certificates on long-lived connections costs at most 10 % of W1 throughput.
  const tlsCost = row("W1", "memory-tls")?.rps / row("W1", "memory")?.rps;
  check("memory W1 req/s over mTLS >= 0.90x cleartext", tlsCost, tlsCost >= 0.9, `${fmt(tlsCost)}x`);
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
  // Issue 7: the new algorithms against W1 of the same variant, measured in the same run.
  // Each workload's own ratio to the baseline measured in the same slices, divided: robust to the host slowing down
  // between workloads (absolute req/s of W1 and W4 are measured minutes apart). Absolute req/s without a baseline.
  const vsW1 = (w, v, min, text) => {
    const a = row(w, v);
    const b = row("W1", v);
    const useRatios = Number.isFinite(a?.rpsRatio) && Number.isFinite(b?.rpsRatio);
    const r = a === undefined || b === undefined ? undefined : useRatios ? a.rpsRatio / b.rpsRatio : a.rps / b.rps;
    check(text, r, r >= min, `${fmt(r)}x`);
  };
  // Issue 7: W1-W3 do not regress by more than 5 % against an earlier build (--base) measured in the same slices.
  for (const v of ["memory", "redis"]) {
    for (const w of ["W1", "W2", "W3"]) {
      const a = row(w, v);
      const b = row(w, `${v}-base`);
      const r = a === undefined || b === undefined ? undefined : a.rpsRatio / b.rpsRatio;
      const cpu = a === undefined || b === undefined ? undefined : a.cpuUs / b.cpuUs;
      check(`${v} ${w} req/s >= 0.95x --base`, r, r >= 0.95, `${fmt(r)}x (CPU/req ${fmt(cpu)}x)`);
    }
  }
  vsW1("W4", "redis", 0.9, "Redis W4 (token bucket) req/s >= 0.90x Redis W1");
  vsW1("W5", "redis", 0.75, "Redis W5 (3 limits) req/s >= 0.75x Redis W1");
  vsW1("W6", "redis", 0.85, "Redis W6 (peek then charge) req/s >= 0.85x Redis W1");
  vsW1("W4", "memory", 0.95, "memory W4 req/s >= 0.95x memory W1");
  vsW1("W5", "memory", 0.85, "memory W5 req/s >= 0.85x memory W1");
  const cpu4 = row("W4", "redis")?.redisCpuUs;
  const cpu1 = row("W1", "redis")?.redisCpuUs;
  const cpuRatio = cpu4 !== undefined && cpu1 !== undefined ? cpu4 / cpu1 : undefined;
  check("Redis CPU per W4 decision <= 2.5x W1's", cpuRatio, cpuRatio <= 2.5, `${fmt(cpuRatio)}x`);
  for (const w of ["W4", "W5", "W6"]) {
    const r = row(w, "redis")?.redisReads;
    check(`Redis ${w} read events per request <= 1 (round trips)`, r, r <= 1, fmt(r, 3));
  }
  // Issue 8: telemetry costs (req/s of the variant over req/s of the plain one, both as ratios to the same baseline;
  // CPU per request is shown too, as it moves less with machine noise).
  for (const [v, plain, max, what] of [
    ["memory-prom", "memory", 0.03, "Prometheus on"],
    ["redis-prom", "redis", 0.03, "Prometheus on"],
    ["memory-trace", "memory", 0.05, "tracing at 0.01"],
    ["redis-trace", "redis", 0.05, "tracing at 0.01"],
  ]) {
    for (const w of ["W1", "W2"]) {
      const on = row(w, v);
      const off = row(w, plain);
      // Both as ratios to the baseline when it ran (same cycles), else the medians of raw req/s.
      const ratio = (r) => (Number.isFinite(r.rpsRatio) ? r.rpsRatio : r.rps);
      const loss = on && off ? 1 - ratio(on) / ratio(off) : undefined;
      const cpu = on && off ? on.cpuUs / off.cpuUs - 1 : undefined;
      check(
        `${plain} ${w} with ${what} loses <= ${max * 100}% req/s`,
        loss,
        loss <= max,
        `${fmt((loss ?? Number.NaN) * 100, 1)}% (CPU/req ${cpu === undefined ? "n/a" : `${fmt(cpu * 100, 1)}%`})`,
      );
    }
  }
  const w3 = row("W3", "redis")?.redisCmds;
  check("Redis W3 with local cache <= 0.05 commands per request", w3, w3 <= 0.05, fmt(w3, 4));
  const rss = memory1m?.rssMb;
  check("memory store, 1,000,000 live keys < 200 MB RSS", rss, rss < 200 && memory1m?.allLive, `${fmt(rss, 1)} MB`);
  return out;
}
