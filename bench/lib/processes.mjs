/**
 * Child processes for the bench: servers pinned to one CPU with `taskset`, readiness by a real gRPC call, CPU time
 * from /proc (the server and all its descendants, so a multi-process server is counted whole), clean stops.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import { CODE, SHOULD_RATE_LIMIT_PATH, scanResponseFrame } from "./grpc-wire.mjs";

/** Clock ticks per second of /proc/<pid>/stat utime/stime. */
export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/**
 * The command prefix that pins a process to `cpu` (null: unpinned) and raises its priority by `nice` (0: none).
 * Both are applied at exec time, so every thread the process later starts inherits them (pinning a running
 * process with `taskset -p` would move its main thread only).
 */
export function pinPrefix(cpu, nice) {
  return [...(nice ? ["nice", "-n", String(nice)] : []), ...(cpu === null ? [] : ["taskset", "-c", String(cpu)])];
}

/**
 * Re-executes this script as `setsid --wait nice -n <nice> taskset -c <cpu> node <script> <args>` and mirrors its
 * exit code; returns false in the re-executed child (or when `cpu` is null), which should then do the work.
 * Pinning at exec time reaches every thread (taskset -p would move the main thread only). `setsid` gives the bench
 * its own scheduler autogroup (with sched_autogroup, nice only ranks tasks inside one autogroup), whose nice is
 * then raised too, so other sessions' processes cannot take the measured cores' time.
 */
export function relaunchPinned(cpu, nice) {
  if (cpu === null) return false;
  if (process.env.SLUICE_BENCH_CHILD === "1") {
    try {
      fs.writeFileSync("/proc/self/autogroup", String(nice));
    } catch {
      // no autogroups (or not root): per-process nice still applies
    }
    return false;
  }
  const argv = [
    "setsid",
    "--wait",
    ...pinPrefix(cpu, nice),
    process.execPath,
    ...process.execArgv,
    ...process.argv.slice(1),
  ];
  const child = spawn(argv[0], argv.slice(1), { stdio: "inherit", env: { ...process.env, SLUICE_BENCH_CHILD: "1" } });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code) => process.exit(code ?? 1));
  return true;
}

/** Stops this module's children on SIGINT/SIGTERM, so an interrupted bench leaves no server behind. */
export function stopChildrenOnSignal() {
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      console.log(`\n${sig}: stopping servers`);
      killChildren();
      process.exit(130);
    });
  }
}

const LOCK_FILE = "/tmp/sluice-bench.lock";

/**
 * Waits until no other bench holds the machine-wide lock, then takes it (released at exit). Two benches at once
 * would share the measured cores and both report nonsense. A lock left by a dead process is taken over.
 */
export async function takeBenchLock(log) {
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: "wx" });
      process.on("exit", () => {
        try {
          if (fs.readFileSync(LOCK_FILE, "utf8") === String(process.pid)) fs.unlinkSync(LOCK_FILE);
        } catch {
          // already gone
        }
      });
      return;
    } catch {
      const holder = Number(fs.readFileSync(LOCK_FILE, "utf8"));
      if (!isAlive(holder)) {
        fs.rmSync(LOCK_FILE, { force: true });
        continue;
      }
      if (!announced) log(`  another bench (pid ${holder}) is running; waiting for it to finish ...`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Every child still running, so an interrupted bench can stop them. */
const live = new Set();

/** SIGKILLs the children this module started and that are still running. */
export function killChildren() {
  for (const child of live) child.kill("SIGKILL");
}

/**
 * Spawns `argv` pinned to `cpu` (null: unpinned) at priority `nice`, output to `logFile`.
 * @returns {{ child: import("node:child_process").ChildProcess, pid: number, logFile: string, exited: Promise<number | null> }}
 */
export function spawnPinned(cpu, argv, { env, logFile, cwd, nice = 0 }) {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, "w");
  const full = [...pinPrefix(cpu, nice), ...argv];
  const child = spawn(full[0], full.slice(1), { env, cwd, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  live.add(child);
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      live.delete(child);
      resolve(code ?? signal);
    }),
  );
  if (child.pid === undefined) throw new Error(`could not spawn ${full.join(" ")}`);
  return { child, pid: child.pid, logFile, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc, graceMs = 5000) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill("SIGTERM");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Waits until the server at `port` answers `probe` (a gRPC request frame) with grpc-status 0 and overall_code OK.
 * Throws with the last failure and the server's log tail after `timeoutMs`, or as soon as the process exits.
 */
export async function waitForGrpc(proc, port, probe, timeoutMs = 20_000, secure = undefined) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline && !exited) {
    try {
      const r = await grpcCall(port, probe, secure);
      if (r.status === "0" && r.code === CODE.OK) return;
      last = `grpc-status ${r.status} ${r.message ?? ""} overall_code ${r.code}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const why = exited ? `exited with ${await proc.exited}` : `not ready after ${timeoutMs} ms (${last})`;
  throw new Error(`server ${why}\n--- ${proc.logFile} ---\n${tail(proc.logFile)}`);
}

/** One unary call with node:http2 (slow, but decodes everything; used for readiness only). */
export function grpcCall(port, frame, secure = undefined) {
  return new Promise((resolve, reject) => {
    const session = secure
      ? http2.connect(`https://127.0.0.1:${port}`, secure)
      : http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": SHOULD_RATE_LIMIT_PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks = [];
    let status;
    let message;
    stream.on("response", (h) => {
      status = h["grpc-status"] ?? status;
      message = h["grpc-message"] ?? message;
    });
    stream.on("trailers", (t) => {
      status = t["grpc-status"];
      message = t["grpc-message"];
    });
    stream.on("data", (c) => chunks.push(c));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ status, message, code: scanResponseFrame(Buffer.concat(chunks)).code });
    });
    stream.setTimeout(2000, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.end(frame);
  });
}

/** utime+stime ticks of `pid` and all its descendants. */
export function treeCpuTicks(pid) {
  const stats = new Map();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // process ended while listing
    }
  }
  let total = 0;
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop();
    total += stats.get(p)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) todo.push(child);
  }
  return total;
}

/** Busy and total ticks per CPU from /proc/stat, to tell how much else ran on the server's core. */
export function cpuTimes() {
  const out = [];
  for (const line of fs.readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    // user nice system idle iowait irq softirq steal: "busy" is process time (user+nice+system) plus time the
    // hypervisor stole; interrupt time is left out, as most of it is the loopback traffic of the bench itself.
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[Number(m[1])] = { busy: (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[7] ?? 0), total };
  }
  return out;
}
