/**
 * The built service as a real child process (`node dist/main.js`, build it with compat-process.ts#buildDist) with
 * every JSON log line and stderr captured, for tests about process-level behaviour: signals, exit codes, WORKERS.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { REPO } from "./compat-process.js";
import { waitFor } from "./service.js";

const MAIN = join(REPO, "dist/main.js");

export type LogLine = Readonly<Record<string, unknown>>;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class SluiceProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = "";
  readonly exited: Promise<Exit>;

  /** `env` is the whole environment besides PATH (LOG_FORMAT=json and LOG_LEVEL=info unless given). */
  constructor(env: Readonly<Record<string, string>>, cwd = REPO) {
    this.child = spawn(process.execPath, [MAIN], {
      cwd,
      env: { PATH: process.env["PATH"] ?? "", LOG_FORMAT: "json", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let partial = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      partial += d.toString("utf8");
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) if (line.trim() !== "") this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString("utf8");
    });
    this.exited = new Promise((res) => this.child.on("exit", (code, signal) => res({ code, signal })));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error("process did not start");
    return this.child.pid;
  }

  /** Log lines with this message. */
  all(msg: string): LogLine[] {
    return this.lines.filter((l) => l["msg"] === msg);
  }

  /** Waits until at least `count` lines with this message were logged; fails early if the process exits. */
  async waitForLines(msg: string, count = 1, timeoutMs = 15_000): Promise<LogLine[]> {
    await waitFor(() => this.all(msg).length >= count || this.child.exitCode !== null, timeoutMs).catch(() => {});
    const found = this.all(msg);
    if (found.length < count) {
      throw new Error(`expected ${count} "${msg}" lines, got ${found.length}; stderr: ${this.stderr}`);
    }
    return found;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}
