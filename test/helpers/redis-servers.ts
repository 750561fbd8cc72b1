/**
 * Real redis-server processes for integration tests: single (TCP, unix socket, TLS), Sentinel (master + replica +
 * sentinels) and a 3-master Cluster, each on free loopback ports in its own temp dir, with kill / SIGSTOP / SIGCONT /
 * restart controls. `createRedisFarm()` tracks everything it starts; `stopAll()` (call it in afterAll) kills every
 * process and removes the temp dirs, and a process "exit" hook kills leftovers if a run dies early.
 * Needs `redis-server`, `redis-cli` and `openssl` on PATH (scripts/test.sh installs Redis when missing).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { Problems } from "../../src/settings/problems.js";
import { parseRedisSettings, type RedisSettings } from "../../src/settings/redis-settings.js";
import { freePort } from "./ports.js";
import { createTestCa } from "./test-ca.js";

const run = promisify(execFile);

export interface TestCa {
  readonly dir: string;
  readonly caCert: string;
  /** Server certificate valid for IP 127.0.0.1 only (so "localhost" fails hostname verification). */
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export interface RedisServer {
  readonly host: "127.0.0.1";
  /** TCP port (the TLS port for a TLS server); 0 for a unix-socket-only server. */
  readonly port: number;
  readonly socketPath: string | undefined;
  readonly dir: string;
  /** `127.0.0.1:port`, the reference's REDIS_URL format. */
  readonly address: string;
  readonly pid: number | undefined;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the process hangs, its sockets stay open. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Starts it again with the same arguments (same port, empty data) and waits until it answers PING. */
  restart(): Promise<void>;
  /** Runs redis-cli against it and returns trimmed stdout. */
  cli(...args: string[]): Promise<string>;
}

export interface SentinelSet {
  readonly masterName: string;
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: readonly RedisServer[];
  /** The sentinel REDIS_URL: `master,127.0.0.1:s1,127.0.0.1:s2`. */
  readonly url: string;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** The cluster REDIS_URL: comma list of `127.0.0.1:port`. */
  readonly url: string;
}

export interface StartOptions {
  /** Extra redis-server arguments, e.g. ["--requirepass", "s3cret"]. */
  readonly args?: readonly string[];
  /** Listen on this TCP port instead of a free one (e.g. "start Redis later on a known port"). */
  readonly port?: number;
  /** Serve TLS only, with this CA's server certificate (clients must present a certificate). */
  readonly tls?: TestCa;
  /** Listen on a unix socket only. */
  readonly unixSocket?: boolean;
  /** requirepass (and masterauth, for replicas); `cli()` authenticates with it. */
  readonly password?: string;
}

export interface SentinelSetOptions {
  /** How many sentinels (default 2). */
  readonly sentinels?: number;
  /** Password of the master and replica (REDIS_AUTH). */
  readonly password?: string;
  /** Password of the sentinels themselves (REDIS_SENTINEL_AUTH). */
  readonly sentinelPassword?: string;
}

export interface RedisFarm {
  start(opts?: StartOptions): Promise<RedisServer>;
  startSentinelSet(opts?: SentinelSetOptions): Promise<SentinelSet>;
  startCluster(): Promise<RedisCluster>;
  /** A throwaway CA with server and client certificates (openssl, EC P-256). */
  makeCa(): Promise<TestCa>;
  /** Kills every process started by this farm and removes its temp dirs. */
  stopAll(): Promise<void>;
}

export function createRedisFarm(): RedisFarm {
  const children = new Set<ChildProcess>();
  const dirs: string[] = [];
  const killLeftovers = (): void => {
    for (const c of children) c.kill("SIGKILL");
  };
  // If the test process is interrupted, take the servers down with it, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals): void => {
    killLeftovers();
    process.kill(process.pid, signal);
  };
  process.once("exit", killLeftovers);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const mkdir = (name: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `sluice-${name}-`));
    dirs.push(dir);
    return dir;
  };

  const startProcess = async (args: readonly string[], probe: () => Promise<void>): Promise<ChildProcess> => {
    const child = spawn("redis-server", args, { stdio: "ignore" });
    children.add(child);
    child.once("exit", () => children.delete(child));
    await probe();
    return child;
  };

  async function start(opts: StartOptions = {}): Promise<RedisServer> {
    const dir = mkdir("redis");
    const port = opts.unixSocket ? 0 : (opts.port ?? (await freePort()));
    const socketPath = opts.unixSocket ? join(dir, "redis.sock") : undefined;
    const auth = opts.password === undefined ? [] : ["--requirepass", opts.password, "--masterauth", opts.password];
    const args = [...baseArgs(dir), ...listenArgs(port, socketPath, opts.tls), ...auth, ...(opts.args ?? [])];
    const probe = () => waitForPing({ port, socketPath, tls: opts.tls });
    return makeServer(startProcess, args, probe, { port, socketPath, dir, password: opts.password }, opts.tls);
  }

  async function startSentinelSet(opts: SentinelSetOptions = {}): Promise<SentinelSet> {
    const masterName = "sluicemaster";
    const pw = opts.password === undefined ? {} : { password: opts.password };
    const master = await start({ ...pw, args: ["--repl-diskless-sync-delay", "0"] });
    const replica = await start({ ...pw, args: ["--replicaof", "127.0.0.1", String(master.port)] });
    await waitFor(async () => (await master.cli("INFO", "replication")).includes("connected_slaves:1"), "replica link");
    await waitFor(async () => (await replica.cli("INFO", "replication")).includes("master_link_status:up"), "sync");
    const sentinels: RedisServer[] = [];
    for (let i = 0; i < (opts.sentinels ?? 2); i++) {
      const dir = mkdir("sentinel");
      const port = await freePort();
      const conf = join(dir, "sentinel.conf");
      writeFileSync(conf, sentinelConf(port, dir, masterName, master.port, opts));
      const args = [conf, "--sentinel"];
      const where = { port, socketPath: undefined, dir, password: opts.sentinelPassword };
      sentinels.push(await makeServer(startProcess, args, () => waitForPing({ port }), where));
    }
    for (const s of sentinels) {
      await waitFor(
        async () => (await s.cli("SENTINEL", "replicas", masterName)).includes(String(replica.port)),
        "sentinel",
      );
    }
    const url = [masterName, ...sentinels.map((s) => s.address)].join(",");
    return { masterName, master, replica, sentinels, url };
  }

  async function startCluster(): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const busPort = await freePort();
      const args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "2000",
      ];
      nodes.push(await start({ args: [...args, "--cluster-port", String(busPort)] }));
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...nodes.map((n) => n.address),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    for (const n of nodes) {
      await waitFor(async () => (await n.cli("CLUSTER", "INFO")).includes("cluster_state:ok"), "cluster state ok");
    }
    return { nodes, url: nodes.map((n) => n.address).join(",") };
  }

  /** A throwaway CA (test-ca.ts) with a server certificate for 127.0.0.1 and a client certificate. */
  async function makeCa(): Promise<TestCa> {
    const ca = await createTestCa();
    dirs.push(ca.dir);
    const server = await ca.issue("server", "serverAuth", "IP:127.0.0.1");
    const client = await ca.issue("client", "clientAuth");
    return {
      dir: ca.dir,
      caCert: ca.caFile,
      serverCert: server.certFile,
      serverKey: server.keyFile,
      clientCert: client.certFile,
      clientKey: client.keyFile,
    };
  }

  async function stopAll(): Promise<void> {
    const exits = [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGKILL");
        }),
    );
    await Promise.all(exits);
    process.removeListener("exit", killLeftovers);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  return { start, startSentinelSet, startCluster, makeCa, stopAll };
}

function baseArgs(dir: string): string[] {
  return ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--logfile", join(dir, "redis.log")];
}

function listenArgs(port: number, socketPath: string | undefined, tls: TestCa | undefined): string[] {
  if (socketPath !== undefined) return ["--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700"];
  if (tls === undefined) return ["--port", String(port)];
  return [
    "--port",
    "0",
    "--tls-port",
    String(port),
    "--tls-cert-file",
    tls.serverCert,
    "--tls-key-file",
    tls.serverKey,
    "--tls-ca-cert-file",
    tls.caCert,
    "--tls-auth-clients",
    "yes",
  ];
}

function sentinelConf(
  port: number,
  dir: string,
  masterName: string,
  masterPort: number,
  opts: SentinelSetOptions,
): string {
  const auth = [
    ...(opts.password === undefined ? [] : [`sentinel auth-pass ${masterName} ${opts.password}`]),
    ...(opts.sentinelPassword === undefined
      ? []
      : [`requirepass ${opts.sentinelPassword}`, `sentinel sentinel-pass ${opts.sentinelPassword}`]),
  ];
  return [
    ...auth,
    `port ${port}`,
    "bind 127.0.0.1",
    `dir ${dir}`,
    `logfile ${join(dir, "sentinel.log")}`,
    `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
    `sentinel down-after-milliseconds ${masterName} 1000`,
    `sentinel failover-timeout ${masterName} 10000`,
    `sentinel parallel-syncs ${masterName} 1`,
    "",
  ].join("\n");
}

type Starter = (args: readonly string[], probe: () => Promise<void>) => Promise<ChildProcess>;

async function makeServer(
  startProcess: Starter,
  args: readonly string[],
  probe: () => Promise<void>,
  where: { port: number; socketPath: string | undefined; dir: string; password?: string | undefined },
  tls?: TestCa,
): Promise<RedisServer> {
  let child = await startProcess(args, probe);
  const cliBase = (): string[] => {
    const auth = where.password === undefined ? [] : ["-a", where.password, "--no-auth-warning"];
    if (where.socketPath !== undefined) return ["-s", where.socketPath, ...auth];
    const base = ["-h", "127.0.0.1", "-p", String(where.port), ...auth];
    return tls === undefined
      ? base
      : [...base, "--tls", "--cacert", tls.caCert, "--cert", tls.clientCert, "--key", tls.clientKey];
  };
  return {
    host: "127.0.0.1",
    port: where.port,
    socketPath: where.socketPath,
    dir: where.dir,
    address: `127.0.0.1:${where.port}`,
    get pid() {
      return child.pid;
    },
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
    pause: () => void child.kill("SIGSTOP"),
    resume: () => void child.kill("SIGCONT"),
    async restart() {
      child = await startProcess(args, probe);
    },
    async cli(...cmd: string[]) {
      const { stdout } = await run("redis-cli", [...cliBase(), ...cmd]);
      return stdout.trim();
    },
  };
}

/** Polls `check` every 25 ms until it returns true; fails after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until a Redis answers PING (over TCP, a unix socket or TLS). */
function waitForPing(where: {
  port: number;
  socketPath?: string | undefined;
  tls?: TestCa | undefined;
}): Promise<void> {
  return waitFor(() => ping(where), `redis on ${where.socketPath ?? where.port}`, 10_000);
}

function ping(where: { port: number; socketPath?: string | undefined; tls?: TestCa | undefined }): Promise<boolean> {
  return new Promise((resolve) => {
    let socket: Socket;
    if (where.socketPath !== undefined) socket = netConnect(where.socketPath);
    else if (where.tls !== undefined) {
      socket = tlsConnect({
        host: "127.0.0.1",
        port: where.port,
        ca: readFileSync(where.tls.caCert),
        cert: readFileSync(where.tls.clientCert),
        key: readFileSync(where.tls.clientKey),
      });
    } else socket = netConnect(where.port, "127.0.0.1");
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once(where.tls !== undefined ? "secureConnect" : "connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString();
      // Any answer but LOADING means the server is up (a password-protected one answers -NOAUTH).
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG") || answer.startsWith("-NOAUTH"));
    });
  });
}

/** RedisSettings parsed from a REDIS_* environment exactly as startup does (throws SettingsError on problems). */
export function redisSettingsFrom(env: Readonly<Record<string, string>>): RedisSettings {
  const p = new Problems();
  const settings = parseRedisSettings(env, p);
  p.throwIfAny();
  return settings;
}

/** Waits until a store (anything with `connected()`) has a ready connection. */
export function waitConnected(store: { connected(): boolean }, timeoutMs = 10_000): Promise<void> {
  return waitFor(async () => store.connected(), "redis connection", timeoutMs);
}
