/**
 * A throw-away redis-server for the bench (no persistence, loopback only, pinned with the load generator), and the
 * INFO figures the bench reports: commands (INFO commandstats), CPU (INFO cpu) and read events (INFO stats
 * total_reads_processed: one per socket read, so reads per request bound the round trips a request costs).
 */
import path from "node:path";
import { Redis } from "ioredis";
import { freePort, spawnPinned, stopProcess, tail } from "./processes.mjs";

/** @param {number | null} cpu @param {string} logDir @param {number} nice */
export async function startRedis(cpu, logDir, nice) {
  const port = await freePort();
  const argv = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const proc = spawnPinned(cpu, [...argv, "--protected-mode", "no", "--daemonize", "no"], {
    env: process.env,
    nice,
    logFile: path.join(logDir, "redis.log"),
  });
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (err) {
      client.disconnect();
      const exited = proc.child.exitCode !== null || proc.child.signalCode !== null;
      if (exited || Date.now() > deadline) throw new Error(`redis-server did not start: ${err}\n${tail(proc.logFile)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    pid: proc.pid,
    url: `127.0.0.1:${port}`,
    flushAll: () => client.flushall(),
    snapshot: async () => parseInfo(await client.info("all")),
    async stop() {
      try {
        await client.shutdown("NOSAVE");
      } catch {
        // the connection drops as the server exits
      }
      client.disconnect();
      await stopProcess(proc, 3000);
    },
  };
}

/** Calls per command (without INFO itself), CPU seconds and read events. */
function parseInfo(text) {
  const commands = {};
  let cpu = 0;
  let reads = 0;
  for (const line of text.split("\r\n")) {
    const cmd = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (cmd && cmd[1] !== "info") commands[cmd[1]] = Number(cmd[2]);
    const c = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (c) cpu += Number(c[2]);
    const r = /^total_reads_processed:(\d+)/.exec(line);
    if (r) reads = Number(r[1]);
  }
  return { commands, cpuSeconds: cpu, reads };
}

/** Per-command call deltas between two snapshots, plus the total. */
export function commandDelta(before, after) {
  const perCommand = {};
  let total = 0;
  for (const [cmd, calls] of Object.entries(after.commands)) {
    const d = calls - (before.commands[cmd] ?? 0);
    if (d > 0) {
      perCommand[cmd] = d;
      total += d;
    }
  }
  return { total, perCommand };
}
