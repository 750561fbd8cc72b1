/**
 * Starts the built service (`node dist/main.js`) for a bench script: one process, loopback ports, the memory backend
 * unless `env` says otherwise, JSON logs to `logFile`; resolves once it answers gRPC. Returns the process and its
 * ports. Node runs with the checkout's launcher flags (service-node-flags.mjs); SERVICE_NODE_ARGS in the bench's
 * environment (space-separated) go to the service's node after them, before the script, to profile a bench's service:
 * `SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`.
 */
import path from "node:path";
import { probeFrame } from "./measure.mjs";
import { distPath, REPO_ROOT } from "./paths.mjs";
import { freePort, spawnPinned, waitForGrpc } from "./processes.mjs";
import { serviceBaseEnv } from "./service-env.mjs";
import { serviceNodeFlags } from "./service-node-flags.mjs";

/**
 * @param {object} gen generated protobuf module (grpc-wire.mjs loadGenerated)
 * @param {{ rulesRoot: string, logFile: string, env?: Record<string, string>, readyTimeoutMs?: number, base?: string,
 *   cpu?: number | null }} opts
 *   `base`: a built checkout to run instead of this one (to compare builds in one run); `cpu`: pin the service (and
 *   every thread it starts) to that CPU
 */
export async function startServiceProcess(gen, opts) {
  const nodeArgs = (process.env.SERVICE_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const ports = { grpc: await freePort(), http: await freePort(), debug: await freePort() };
  const env = {
    ...serviceBaseEnv(ports, opts.rulesRoot),
    BACKEND_TYPE: "memory",
    LOG_FORMAT: "json",
    LOG_LEVEL: "info",
    ...opts.env,
  };
  const main = opts.base === undefined ? distPath("main.js") : path.join(opts.base, "dist", "main.js");
  const proc = spawnPinned(
    opts.cpu ?? null,
    [process.execPath, ...serviceNodeFlags(opts.base ?? REPO_ROOT), ...nodeArgs, main],
    {
      env,
      logFile: opts.logFile,
      cwd: opts.base ?? REPO_ROOT,
    },
  );
  await waitForGrpc(proc, ports.grpc, probeFrame(gen), opts.readyTimeoutMs ?? 20_000);
  return { proc, ports };
}
