/** Runs the built CLI (`node dist/cli/main.js`) as a child process and returns its exit code and output. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO } from "./sluice-process.js";

export const CLI = join(REPO, "dist/cli/main.js");

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `env` is the whole environment besides PATH; `cwd` defaults to the repository. */
export function runCli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  cwd = REPO,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env["PATH"] ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
