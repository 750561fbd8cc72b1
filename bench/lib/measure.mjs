/**
 * One measurement: start a server variant pinned to the server CPU, wait until it answers, drive one workload
 * through warm-up and the measured window, and collect the figures (throughput and latency from the generator,
 * server CPU from /proc, Redis commands/CPU/reads from INFO). The server is restarted for every measurement and
 * Redis is flushed, so every measurement starts from the same state.
 */
import fs from "node:fs";
import path from "node:path";
import { encodeRequestFrame } from "./grpc-wire.mjs";
import { EXPECT, runLoad } from "./load-generator.mjs";
import { BENCH_DIR, distPath, REPO_ROOT, RULES_ROOT } from "./paths.mjs";
import { CLK_TCK, cpuTimes, freePort, spawnPinned, stopProcess, treeCpuTicks, waitForGrpc } from "./processes.mjs";
import { commandDelta } from "./redis.mjs";
import { DOMAIN } from "./workloads.mjs";

/** Bytes of the local over-limit cache for W3 on Redis (LOCAL_CACHE_SIZE_IN_BYTES). */
export const LOCAL_CACHE_BYTES = 1024 * 1024;

/** Server variants. `service: true` runs Sluice (dist/main.js); the others are baselines. */
export const VARIANTS = Object.freeze({
  noop: { label: "no-op grpc-js (baseline)", service: false, script: "noop-server.mjs" },
  "noop-h2": { label: "no-op node:http2", service: false, script: "noop-h2-server.mjs" },
  memory: { label: "Sluice, memory", service: true, backend: "memory" },
  redis: { label: "Sluice, Redis", service: true, backend: "redis" },
});

/** Why a variant cannot run at all (e.g. the service is not built yet), or undefined. */
export function unavailableReason(name) {
  if (VARIANTS[name]?.service && !fs.existsSync(distPath("main.js"))) {
    return "dist/main.js missing (service not written or not built: npx tsc -p tsconfig.json)";
  }
  return undefined;
}

/** Environment of the service, as a user would set it (reference env names). */
function serviceEnv(variant, workload, ports, ctx) {
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    NODE_ENV: "production",
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(ports.grpc),
    HOST: "127.0.0.1",
    PORT: String(ports.http),
    DEBUG_HOST: "127.0.0.1",
    DEBUG_PORT: String(ports.debug),
    RUNTIME_ROOT: RULES_ROOT,
    RUNTIME_SUBDIRECTORY: "ratelimit",
    RUNTIME_WATCH_ROOT: "false",
    BACKEND_TYPE: variant.backend,
    WORKERS: "1",
  };
  if (variant.backend === "redis") {
    env.REDIS_SOCKET_TYPE = "tcp";
    env.REDIS_URL = ctx.redis.url;
    if (workload.name === "W3") env.LOCAL_CACHE_SIZE_IN_BYTES = String(LOCAL_CACHE_BYTES);
  }
  return { ...env, ...ctx.extraEnv };
}

async function startVariant(name, workload, ctx, tag) {
  const variant = VARIANTS[name];
  const ports = { grpc: await freePort(), http: await freePort(), debug: await freePort() };
  const logFile = path.join(ctx.logDir, `${tag}.log`);
  const node = [process.execPath, ...ctx.nodeFlags];
  const argv = variant.service
    ? [...node, distPath("main.js")]
    : [...node, path.join(BENCH_DIR, variant.script), String(ports.grpc)];
  const env = variant.service ? serviceEnv(variant, workload, ports, ctx) : { ...process.env };
  const proc = spawnPinned(ctx.serverCpu, argv, { env, logFile, cwd: REPO_ROOT, nice: ctx.nice });
  try {
    await waitForGrpc(proc, ports.grpc, ctx.probe);
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
 * Runs one variant on one workload.
 * @returns {Promise<object>} the record stored in the results JSON and summarised by report.mjs
 */
export async function measure(name, workload, ctx, tag) {
  const usesRedis = VARIANTS[name].backend === "redis";
  if (usesRedis) await ctx.redis.flushAll();
  const server = await startVariant(name, workload, ctx, tag);
  let before;
  let after;
  const take = snapshot(ctx, server.proc.pid, usesRedis);
  try {
    const load = await runLoad({
      port: server.port,
      frames: workload.frames,
      expect: server.variant.service ? workload.expect : new Uint8Array(workload.frames.length).fill(EXPECT.OK),
      allowOk: workload.allowOk,
      statuses: server.variant.service ? workload.descriptors : -1,
      connections: ctx.connections,
      inFlight: ctx.inFlight,
      warmupMs: ctx.warmupMs,
      durationMs: ctx.durationMs,
      onWindowStart: async () => {
        before = await take();
      },
      onWindowEnd: async () => {
        after = await take();
      },
    });
    return { variant: name, workload: workload.name, tag, ...load, ...derive(load, before, after, ctx) };
  } finally {
    await stopProcess(server.proc);
  }
}

function derive(load, before, after, ctx) {
  const n = load.requests || Number.NaN;
  const out = {
    serverCpuUsPerReq: (((after.ticks - before.ticks) / CLK_TCK) * 1e6) / n,
    serverCpuPct: ((after.ticks - before.ticks) / CLK_TCK / load.seconds) * 100,
    foreignCpuPct: foreignLoad(before, after, ctx.serverCpu),
  };
  if (before.redis && after.redis) {
    const cmds = commandDelta(before.redis, after.redis);
    out.redisCmdsPerReq = cmds.total / n;
    out.redisCommands = cmds.perCommand;
    out.redisCpuUsPerReq = ((after.redis.cpuSeconds - before.redis.cpuSeconds) * 1e6) / n;
    out.redisReadsPerReq = (after.redis.reads - before.redis.reads) / n;
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
