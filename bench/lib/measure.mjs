/**
 * Measures one workload on several server variants side by side. Every variant gets its own server process pinned
 * to the server CPU; all are started and warmed up, then the load alternates between them in short slices
 * (A B C, C B A, A B C, ... so no variant always goes first), and every server but the one under load is
 * SIGSTOPped, so it cannot run timers or GC on the measured core. Slices of one cycle are a few seconds apart,
 * which is what makes per-cycle ratios robust on a noisy shared machine: slow drifts of the host hit every
 * variant of a cycle alike. Per slice: throughput (generator), server CPU (/proc, the server and its
 * descendants), Redis commands/CPU/read events (INFO deltas) for the Redis variant.
 */
import fs from "node:fs";
import path from "node:path";
import { encodeRequestFrame } from "./grpc-wire.mjs";
import { createLoadRunner, EXPECT } from "./load-generator.mjs";
import { BENCH_DIR, distPath, REPO_ROOT, RULES_ROOT } from "./paths.mjs";
import { CLK_TCK, cpuTimes, freePort, spawnPinned, stopProcess, treeCpuTicks, waitForGrpc } from "./processes.mjs";
import { commandDelta } from "./redis.mjs";
import { serviceBaseEnv } from "./service-env.mjs";
import { serviceNodeFlags } from "./service-node-flags.mjs";
import { makeBenchTls, tlsEnv } from "./tls.mjs";
import { DOMAIN } from "./workloads.mjs";

/** Pause between the end of a slice and freezing its server. */
const SETTLE_MS = 30;

/** Bytes of the local over-limit cache for W3 on Redis (LOCAL_CACHE_SIZE_IN_BYTES). */
export const LOCAL_CACHE_BYTES = 1024 * 1024;

/** Server variants. `service: true` runs Sluice (dist/main.js); the others are baselines. */
export const VARIANTS = Object.freeze({
  noop: { label: "no-op grpc-js (baseline)", service: false, script: "noop-server.mjs" },
  "noop-h2": { label: "no-op node:http2", service: false, script: "noop-h2-server.mjs" },
  memory: { label: "Sluice, memory", service: true, backend: "memory" },
  "memory-tls": { label: "Sluice, memory, mTLS", service: true, backend: "memory", tls: true },
  redis: { label: "Sluice, Redis", service: true, backend: "redis" },
  // Issue 8's speed check: the same service with Prometheus on, or tracing on at the 0.01 sampling rate.
  "memory-prom": { label: "Sluice, memory, Prometheus on", service: true, backend: "memory", prometheus: true },
  "redis-prom": { label: "Sluice, Redis, Prometheus on", service: true, backend: "redis", prometheus: true },
  "memory-trace": { label: "Sluice, memory, tracing 0.01", service: true, backend: "memory", tracing: 0.01 },
  "redis-trace": { label: "Sluice, Redis, tracing 0.01", service: true, backend: "redis", tracing: 0.01 },
  // Issue 7's "W1-W3 do not regress": an earlier build (`--base <checkout>`, built) measured in the same slices.
  "memory-base": { label: "Sluice at --base, memory", service: true, backend: "memory", base: true },
  "redis-base": { label: "Sluice at --base, Redis", service: true, backend: "redis", base: true },
});

/** Why a variant cannot run at all (e.g. the service is not built yet), or undefined. */
export function unavailableReason(name, base) {
  if (VARIANTS[name]?.service && !fs.existsSync(distPath("main.js"))) {
    return "dist/main.js missing (service not written or not built: npx tsc -p tsconfig.json)";
  }
  if (VARIANTS[name]?.base && (base === undefined || !fs.existsSync(path.join(base, "dist", "main.js")))) {
    return "needs --base <checkout> with dist/main.js built";
  }
  return undefined;
}

/** Environment of the service, as a user would set it (reference env names). */
function serviceEnv(variant, workload, ports, ctx) {
  const env = { ...serviceBaseEnv(ports, RULES_ROOT), BACKEND_TYPE: variant.backend };
  // An earlier build reads its own rules (the same W1-W3 keys and limits).
  if (variant.base) env.RUNTIME_ROOT = path.join(ctx.base, "bench", "config");
  if (variant.prometheus) {
    env.USE_PROMETHEUS = "true";
    env.PROMETHEUS_ADDR = `127.0.0.1:${ports.metrics}`;
  }
  if (variant.tracing !== undefined) {
    // Sampled spans go, in batches, to a port nobody listens on: the export fails fast, as a missing collector would.
    env.TRACING_ENABLED = "true";
    env.TRACING_SAMPLING_RATE = String(variant.tracing);
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `http://127.0.0.1:${ports.metrics}/v1/traces`;
  }
  if (variant.backend === "redis") {
    env.REDIS_SOCKET_TYPE = "tcp";
    env.REDIS_URL = ctx.redis.url;
    // Sluice's default REDIS_TIMEOUT (20 ms) is what is measured: a timed-out call fails the run's verification.
    if (workload.name === "W3") env.LOCAL_CACHE_SIZE_IN_BYTES = String(LOCAL_CACHE_BYTES);
  }
  if (variant.tls) Object.assign(env, tlsEnv(benchTls(ctx)));
  return { ...env, ...ctx.extraEnv };
}

/** The TLS material, made once per run in the log directory. */
function benchTls(ctx) {
  ctx.tls ??= makeBenchTls(path.join(ctx.logDir, "tls"));
  return ctx.tls;
}

/** What a client of this variant needs to connect: TLS options, or undefined for cleartext. */
function clientTls(variant, ctx) {
  return variant.tls ? { ca: benchTls(ctx).ca, cert: benchTls(ctx).cert, key: benchTls(ctx).key } : undefined;
}

async function startVariant(name, workload, ctx, tag) {
  const variant = VARIANTS[name];
  const ports = { grpc: await freePort(), http: await freePort(), debug: await freePort(), metrics: await freePort() };
  const logFile = path.join(ctx.logDir, `${tag}.log`);
  const root = variant.base ? ctx.base : REPO_ROOT;
  // The service as its users start it (its launcher's node flags), then the bench's own --node-flag.
  const node = [process.execPath, ...(variant.service ? serviceNodeFlags(root) : []), ...ctx.nodeFlags];
  const argv = variant.service
    ? [...node, variant.base ? path.join(root, "dist", "main.js") : distPath("main.js")]
    : [...node, path.join(BENCH_DIR, variant.script), String(ports.grpc)];
  const env = variant.service ? serviceEnv(variant, workload, ports, ctx) : { ...process.env };
  const proc = spawnPinned(ctx.serverCpu, argv, { env, logFile, cwd: root, nice: ctx.nice });
  try {
    await waitForGrpc(proc, ports.grpc, ctx.probe, undefined, clientTls(variant, ctx));
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  return { proc, port: ports.grpc, variant };
}

/** Builds the readiness probe: a descriptor no rule matches, which every variant answers OK. */
export function probeFrame(gen) {
  return encodeRequestFrame(gen, DOMAIN, [[["probe", "ready"]]]);
}

function snapshot(ctx, pid, usesRedis) {
  return async () => ({
    ticks: treeCpuTicks(pid),
    cpus: cpuTimes(),
    redis: usesRedis ? await ctx.redis.snapshot() : undefined,
  });
}

/**
 * Runs `workload` on every variant in `names`, alternating slices. Returns one result per variant: its slices and
 * its totals, or `failed` when its server could not start or stopped answering.
 * @param {(line: string) => void} log progress output
 */
export async function measureWorkload(names, workload, ctx, log) {
  if (names.some((n) => VARIANTS[n].backend === "redis")) await ctx.redis.flushAll();
  const live = [];
  const results = new Map(names.map((n) => [n, { variant: n, workload: workload.name, slices: [] }]));
  try {
    for (const name of names) {
      try {
        live.push(await startRunner(name, workload, ctx));
      } catch (err) {
        results.get(name).failed = firstLine(err);
        log(`  ${workload.name}  ${VARIANTS[name].label}: FAILED ${String(err instanceof Error ? err.message : err)}`);
      }
    }
    for (const r of live) await runOne(r, ctx.warmupMs, false, ctx);
    const cycles = Math.max(1, Math.round(ctx.durationMs / ctx.sliceMs));
    for (let c = 1; c <= cycles; c++) {
      const order = c % 2 ? live : [...live].reverse();
      for (const r of order) {
        if (results.get(r.name).failed) continue;
        try {
          results.get(r.name).slices.push({ cycle: c, ...(await runOne(r, ctx.sliceMs, true, ctx)) });
        } catch (err) {
          results.get(r.name).failed = firstLine(err);
        }
      }
      log(progress(workload, c, cycles, live, results));
    }
    for (const r of live) Object.assign(results.get(r.name), await r.runner.totals());
  } finally {
    for (const r of live) await r.close();
  }
  return [...results.values()];
}

function firstLine(err) {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

function progress(workload, c, cycles, live, results) {
  const parts = live.map((r) => {
    const last = results.get(r.name).slices.at(-1);
    return `${r.name} ${last && !results.get(r.name).failed ? Math.round(last.rps).toLocaleString("en") : "-"}`;
  });
  return `  ${workload.name}  cycle ${String(c).padStart(2)}/${cycles}  req/s: ${parts.join("  ")}`;
}

async function startRunner(name, workload, ctx) {
  const server = await startVariant(name, workload, ctx, `${workload.name}-${name}`);
  const service = server.variant.service;
  let runner;
  try {
    runner = await createLoadRunner({
      port: server.port,
      frames: workload.frames,
      expect: service ? workload.expect : new Uint8Array(workload.frames.length).fill(EXPECT.OK),
      allowOk: workload.allowOk,
      statuses: service ? workload.descriptors : -1,
      connections: ctx.connections,
      inFlight: ctx.inFlight,
      tls: clientTls(server.variant, ctx),
    });
  } catch (err) {
    await stopProcess(server.proc);
    throw err;
  }
  if (ctx.freeze) server.proc.child.kill("SIGSTOP");
  return {
    name,
    runner,
    proc: server.proc,
    usesRedis: server.variant.backend === "redis",
    async close() {
      server.proc.child.kill("SIGCONT");
      await runner.close();
      await stopProcess(server.proc);
    },
  };
}

/** One slice on one variant: resume its server, load it, pause it again. */
async function runOne(r, ms, record, ctx) {
  const take = snapshot(ctx, r.proc.pid, r.usesRedis);
  let before;
  let after;
  r.proc.child.kill("SIGCONT");
  try {
    const slice = await r.runner.runSlice(ms, {
      record,
      onStart: async () => {
        before = await take();
      },
      onStop: async () => {
        after = await take();
      },
    });
    return { ...slice, ...derive(slice, before, after, ctx) };
  } finally {
    // Let the server finish what the last calls started (e.g. Redis replies still on the wire) before freezing it:
    // frozen mid-round-trip, its Redis timeout would fire on resume before the reply is read.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    if (ctx.freeze) r.proc.child.kill("SIGSTOP");
  }
}

function derive(slice, before, after, ctx) {
  const n = slice.requests || Number.NaN;
  const out = {
    serverCpuSeconds: (after.ticks - before.ticks) / CLK_TCK,
    serverCpuUsPerReq: (((after.ticks - before.ticks) / CLK_TCK) * 1e6) / n,
    serverCpuPct: ((after.ticks - before.ticks) / CLK_TCK / slice.seconds) * 100,
    foreignCpuPct: foreignLoad(before, after, ctx.serverCpu),
  };
  if (before.redis && after.redis) {
    const cmds = commandDelta(before.redis, after.redis);
    out.redisCmds = cmds.total;
    out.redisCommands = cmds.perCommand;
    out.redisCpuSeconds = after.redis.cpuSeconds - before.redis.cpuSeconds;
    out.redisReads = after.redis.reads - before.redis.reads;
  }
  return out;
}

/** Percent of the server CPU's time that went to other processes or to the hypervisor (steal) instead of the server. */
function foreignLoad(before, after, cpu) {
  if (cpu === null) return Number.NaN;
  const b = before.cpus[cpu];
  const a = after.cpus[cpu];
  if (!a || !b || a.total === b.total) return Number.NaN;
  const serverTicks = after.ticks - before.ticks;
  return Math.max(0, ((a.busy - b.busy - serverTicks) / (a.total - b.total)) * 100);
}
