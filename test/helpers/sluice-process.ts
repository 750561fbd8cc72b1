/**
 * The built service as a real child process (`node dist/main.js`, built by buildDist) with every JSON log line and
 * stderr captured: the one spawner behind the process-level suites (signals, exit codes, WORKERS) and the black-box
 * instances of compat-process.ts.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { waitFor } from "./service.js";

export const REPO = resolve(import.meta.dirname, "../..");
const MAIN = join(REPO, "dist/main.js");

/** Newest modification time (ms) of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const t = entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/**
 * Builds dist/ with `tsc -p tsconfig.json` unless it is already newer than every source file, so several suites in
 * one run pay for one build. Throws with the compiler output when the build fails.
 */
export function buildDist(): void {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch {
    built = 0;
  }
  const sources = Math.max(newestMtime(join(REPO, "src")), statSync(join(REPO, "tsconfig.json")).mtimeMs);
  if (built > sources) return;
  try {
    execFileSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
      cwd: REPO,
      stdio: "pipe",
    });
  } catch (err) {
    const out = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`tsc failed:\n${out.stdout?.toString() ?? ""}${out.stderr?.toString() ?? ""}`);
  }
}

/** Every listener on loopback with a port chosen by the OS; a test spreads its own variables after these. */
export const LOOPBACK_ENV: Readonly<Record<string, string>> = {
  HOST: "127.0.0.1",
  GRPC_HOST: "127.0.0.1",
  DEBUG_HOST: "127.0.0.1",
  PORT: "0",
  GRPC_PORT: "0",
  DEBUG_PORT: "0",
};

export type LogLine = Readonly<Record<string, unknown>>;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The "Sluice started" line (src/service.ts): bound addresses as `host:port`, the backend and the rules directory. */
export interface StartedLine {
  readonly http: string;
  readonly grpc: string;
  readonly debug: string;
  readonly backend: string;
  readonly rulesDir: string;
}

export class SluiceProcess {
  readonly child: ChildProcess;
  /** Parsed stdout lines; a line that is not JSON is kept as `{ raw: line }` so it still shows. */
  readonly lines: LogLine[] = [];
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;

  /**
   * `env` is the whole environment besides PATH (LOG_FORMAT=json and LOG_LEVEL=info unless given). `command` runs
   * something else that starts Sluice (the image's /bin/ratelimit script) instead of `node dist/main.js`.
   */
  constructor(
    env: Readonly<Record<string, string>>,
    cwd = REPO,
    command: readonly string[] = [process.execPath, MAIN],
  ) {
    const [file = process.execPath, ...args] = command;
    this.child = spawn(file, args, {
      cwd,
      env: { PATH: process.env["PATH"] ?? "", LOG_FORMAT: "json", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      const text = d.toString("utf8");
      this.stdout += text;
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) if (line.trim() !== "") this.lines.push(parseLine(line));
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString("utf8");
    });
    this.exited = new Promise((res) => this.child.once("exit", (code, signal) => res({ code, signal })));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error("process did not start");
    return this.child.pid;
  }

  /** Everything the process wrote so far (stdout then stderr), for failure messages. */
  output(): string {
    return `${this.stdout}${this.stderr}`;
  }

  /** Log lines with this message. */
  all(msg: string): LogLine[] {
    return this.lines.filter((l) => l["msg"] === msg);
  }

  /** The first log line with this message. */
  find(msg: string): LogLine | undefined {
    return this.lines.find((l) => l["msg"] === msg);
  }

  /** Waits until at least `count` lines with this message were logged; fails early if the process exits. */
  async waitForLines(msg: string, count = 1, timeoutMs = 15_000): Promise<LogLine[]> {
    await waitFor(() => this.all(msg).length >= count || this.child.exitCode !== null, timeoutMs).catch(() => {});
    const found = this.all(msg);
    if (found.length < count) {
      throw new Error(`expected ${count} "${msg}" lines, got ${found.length}; output:\n${this.output()}`);
    }
    return found;
  }

  /** Waits for the "Sluice started" line; fails if the process exits first or does not start in time. */
  async started(timeoutMs = 15_000): Promise<StartedLine> {
    const [line] = await this.waitForLines("Sluice started", 1, timeoutMs);
    return line as unknown as StartedLine;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM (SIGKILL after `graceMs`) and waits for the exit; at once if the process has already exited. */
  async stop(graceMs = 10_000): Promise<Exit> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function parseLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { raw: line };
  }
}
