import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../../src/domain/ports.js";
import { type RunningService, startService } from "../../src/service.js";
import { parseSettings } from "../../src/settings/settings.js";
import { createLogSink, type LogLine } from "./log-sink.js";

/** A Sluice instance running in-process on loopback ports 0, with its rules in a fresh temporary RUNTIME_ROOT. */
export interface Harness {
  readonly service: RunningService;
  /** RUNTIME_ROOT; rule files go to `<root>/config/`. */
  readonly root: string;
  readonly grpcTarget: string;
  readonly httpUrl: string;
  readonly debugUrl: string;
  readonly logs: LogLine[];
  /** Writes (or replaces) a rule file and waits until the service has loaded it (or failed to). */
  writeRules(yaml: string, file?: string): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra environment variables (win over the harness defaults). */
  readonly env?: Readonly<Record<string, string>>;
  /** Initial rule files by name; none means an empty config directory. */
  readonly rules?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
}

/** Starts the real wiring (startService) with settings parsed from a test environment. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), "sluice-it-"));
  const configDir = join(root, "config");
  await mkdir(configDir);
  for (const [name, yaml] of Object.entries(options.rules ?? {})) await writeFile(join(configDir, name), yaml);
  const settings = parseSettings({
    HOST: "127.0.0.1",
    GRPC_HOST: "127.0.0.1",
    DEBUG_HOST: "127.0.0.1",
    PORT: "0",
    GRPC_PORT: "0",
    DEBUG_PORT: "0",
    RUNTIME_ROOT: root,
    RUNTIME_WATCH_ROOT: "false",
    SHUTDOWN_TIMEOUT: "2s",
    ...options.env,
  });
  const { logger, lines } = createLogSink("debug");
  const service = await startService(settings, { log: logger, ...(options.clock ? { clock: options.clock } : {}) });
  const loads = (): number => {
    const snap = Object.fromEntries(service.stats.snapshot());
    return (snap["ratelimit.service.config_load_success"] ?? 0) + (snap["ratelimit.service.config_load_error"] ?? 0);
  };
  return {
    service,
    root,
    grpcTarget: `127.0.0.1:${service.ports.grpc}`,
    httpUrl: `http://127.0.0.1:${service.ports.http}`,
    debugUrl: `http://127.0.0.1:${service.ports.debug}`,
    logs: lines,
    async writeRules(yaml, file = "config.yaml") {
      const before = loads();
      await writeFile(join(configDir, file), yaml);
      await waitFor(() => loads() > before, 5_000);
    },
    async close() {
      await service.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 20 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
