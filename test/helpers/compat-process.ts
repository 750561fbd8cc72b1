/**
 * The built service as a black box: `node dist/main.js` in a child process, with loopback ports chosen by the OS, a
 * temporary RUNTIME_ROOT holding the rule files, and only the environment a test gives it. Used by the compat-*
 * suites, which must see exactly what an operator (or Envoy) sees.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
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

export interface SluiceOptions {
  /** Environment on top of the loopback/port-0 defaults (BACKEND_TYPE=memory, RUNTIME_WATCH_ROOT=false). */
  readonly env?: Readonly<Record<string, string>>;
  /** Rule files written to `<RUNTIME_ROOT>/config/` before the start. */
  readonly rules?: Readonly<Record<string, string>>;
  /** Runs before the start with the RUNTIME_ROOT path, to lay out files another way. */
  readonly prepare?: (root: string) => Promise<void>;
}

export interface RunningSluice {
  /** gRPC target, `127.0.0.1:<port>`. */
  readonly grpc: string;
  /** `http://127.0.0.1:<PORT>`. */
  readonly http: string;
  /** `http://127.0.0.1:<DEBUG_PORT>`. */
  readonly debug: string;
  /** RUNTIME_ROOT (a fresh temporary directory). */
  readonly root: string;
  readonly configDir: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout then stderr), for failure messages. */
  output(): string;
  /** The debug port's /stats as a map. */
  stats(): Promise<Map<string, number>>;
  /** Writes (or replaces) a rule file and waits until the process has (re)loaded its rules, well or badly. */
  writeRules(yaml: string, file?: string): Promise<void>;
  /** Runs `change` (any file-system edit) and waits until the process has reloaded its rules, well or badly. */
  changeRules(change: () => Promise<void>): Promise<void>;
  /** SIGTERM, wait for the exit, remove the temporary root. */
  stop(): Promise<void>;
}

interface StartedLine {
  readonly msg?: string;
  readonly http?: string;
  readonly grpc?: string;
  readonly debug?: string;
}

/** Starts `node dist/main.js` (build it first with buildDist) and waits for its "Sluice started" line. */
export async function startSluice(options: SluiceOptions = {}): Promise<RunningSluice> {
  const root = await mkdtemp(join(tmpdir(), "sluice-compat-"));
  const configDir = join(root, "config");
  await mkdir(configDir);
  for (const [name, yaml] of Object.entries(options.rules ?? {})) await writeFile(join(configDir, name), yaml);
  await options.prepare?.(root);
  const child = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: {
      PATH: process.env["PATH"] ?? "",
      HOST: "127.0.0.1",
      GRPC_HOST: "127.0.0.1",
      DEBUG_HOST: "127.0.0.1",
      PORT: "0",
      GRPC_PORT: "0",
      DEBUG_PORT: "0",
      BACKEND_TYPE: "memory",
      RUNTIME_ROOT: root,
      RUNTIME_WATCH_ROOT: "false",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let started: StartedLine | undefined;
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
    if (started !== undefined) return;
    for (const line of stdout.split("\n")) {
      if (!line.includes('"Sluice started"')) continue;
      started = JSON.parse(line) as StartedLine;
    }
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  const output = (): string => `${stdout}${stderr}`;
  try {
    await waitFor(() => started !== undefined || child.exitCode !== null, 15_000);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`Sluice did not start: ${(err as Error).message}\n${output()}`);
  }
  if (started === undefined) throw new Error(`Sluice exited before starting:\n${output()}`);
  const s = started;
  const debug = `http://${s.debug}`;
  const stats = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`${debug}/stats`)).text();
    const map = new Map<string, number>();
    for (const line of text.split("\n")) {
      const at = line.lastIndexOf(": ");
      if (at > 0) map.set(line.slice(0, at), Number(line.slice(at + 2)));
    }
    return map;
  };
  const loads = async (): Promise<number> => {
    const m = await stats();
    return (m.get("ratelimit.service.config_load_success") ?? 0) + (m.get("ratelimit.service.config_load_error") ?? 0);
  };
  const changeRules = async (change: () => Promise<void>): Promise<void> => {
    const before = await loads();
    await change();
    await waitFor(async () => (await loads()) > before, 5_000);
  };
  return {
    grpc: s.grpc ?? "",
    http: `http://${s.http}`,
    debug,
    root,
    configDir,
    child,
    output,
    stats,
    writeRules: (yaml, file = "config.yaml") => changeRules(() => writeFile(join(configDir, file), yaml)),
    changeRules,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
