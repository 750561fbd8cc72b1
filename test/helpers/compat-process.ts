/**
 * The built service as a black box: `node dist/main.js` (a SluiceProcess) with loopback ports chosen by the OS, a
 * temporary RUNTIME_ROOT holding the rule files, and only the environment a test gives it. Used by the compat-*
 * suites, which must see exactly what an operator (or Envoy) sees.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createEnvoyClient, type EnvoyClient } from "./envoy-client.js";
import { waitFor } from "./service.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess, type StartedLine } from "./sluice-process.js";

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

/** Builds dist/ when stale, starts `node dist/main.js` and waits for its "Sluice started" line. */
export async function startSluice(options: SluiceOptions = {}): Promise<RunningSluice> {
  buildDist();
  const root = await mkdtemp(join(tmpdir(), "sluice-compat-"));
  const configDir = join(root, "config");
  await mkdir(configDir);
  for (const [name, yaml] of Object.entries(options.rules ?? {})) await writeFile(join(configDir, name), yaml);
  await options.prepare?.(root);
  const env = { ...LOOPBACK_ENV, BACKEND_TYPE: "memory", RUNTIME_ROOT: root, RUNTIME_WATCH_ROOT: "false" };
  const proc = new SluiceProcess({ ...env, ...options.env }, root);
  let s: StartedLine;
  try {
    s = await proc.started();
  } catch (err) {
    proc.kill();
    await rm(root, { recursive: true, force: true });
    throw new Error(`Sluice did not start: ${(err as Error).message}`);
  }
  const debug = `http://${s.debug}`;
  const stats = (): Promise<Map<string, number>> => fetchStats(debug);
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
    grpc: s.grpc,
    http: `http://${s.http}`,
    debug,
    root,
    configDir,
    child: proc.child,
    output: () => proc.output(),
    stats,
    writeRules: (yaml, file = "config.yaml") => changeRules(() => writeFile(join(configDir, file), yaml)),
    changeRules,
    async stop() {
      await proc.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The debug port's /stats (`name: value` lines) as a map. */
async function fetchStats(debugUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${debugUrl}/stats`)).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf(": ");
    if (at > 0) map.set(line.slice(0, at), Number(line.slice(at + 2)));
  }
  return map;
}

/** A started Sluice with an independent Envoy client on its gRPC port: what most compat suites run against. */
export interface CompatInstance {
  readonly sluice: RunningSluice;
  readonly envoy: EnvoyClient;
  /** Closes the client, then stops the process. */
  stop(): Promise<void>;
}

/** startSluice plus createEnvoyClient on it. */
export async function startCompat(options: SluiceOptions = {}): Promise<CompatInstance> {
  const sluice = await startSluice(options);
  const envoy = createEnvoyClient(sluice.grpc);
  return {
    sluice,
    envoy,
    async stop() {
      envoy.close();
      await sluice.stop();
    },
  };
}

/**
 * One instance for the whole enclosing suite: registers the beforeAll that starts it and the afterAll that stops it.
 * The returned `sluice` and `envoy` are for use inside tests and hooks (they throw before the start).
 */
export function useCompat(options: SluiceOptions): Pick<CompatInstance, "sluice" | "envoy"> {
  let instance: CompatInstance | undefined;
  beforeAll(async () => {
    instance = await startCompat(options);
  }, 60_000);
  afterAll(() => instance?.stop());
  const started = (): CompatInstance => {
    if (instance === undefined) throw new Error("the compat instance is not started yet (use it inside a test)");
    return instance;
  };
  return {
    get sluice() {
      return started().sluice;
    },
    get envoy() {
      return started().envoy;
    },
  };
}
