/**
 * Where rules come from (CONFIG_TYPE) and the xDS client's settings, with envoyproxy/ratelimit's names and
 * defaults. CONFIG_TYPE takes FILE (default), GRPC_XDS_SOTW, or both as a comma list (Sluice's own: rule files and
 * xDS at once, merged by domain).
 */
import type { Env, Problems } from "./problems.js";
import { readableFile } from "./tls-settings.js";

export type ConfigSourceType = "FILE" | "GRPC_XDS_SOTW";

export interface XdsTlsSettings {
  /** CONFIG_GRPC_XDS_CLIENT_TLS_CERT / _KEY: the client certificate presented to the management server. */
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  /** CONFIG_GRPC_XDS_SERVER_TLS_CACERT: verifies the server; the system roots when unset. */
  readonly caCertFile: string | undefined;
  /** CONFIG_GRPC_XDS_SERVER_TLS_SAN: the name the server certificate must carry (and the SNI sent). */
  readonly serverSan: string | undefined;
}

export interface XdsBackoffSettings {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Each delay is spread over ±randomFactor of itself when `jitter` is on. */
  readonly randomFactor: number;
  readonly jitter: boolean;
}

export interface XdsSettings {
  readonly nodeId: string;
  readonly nodeMetadata: Readonly<Record<string, string>>;
  /** host:port (or any gRPC target) of the ADS server. */
  readonly serverUrl: string;
  /** Wait before retrying a connection that could not be established (±50 %, as the reference's linear retry). */
  readonly connectRetryIntervalMs: number;
  /** Sent as gRPC metadata on the ADS stream (keys lowercased). */
  readonly additionalHeaders: Readonly<Record<string, string>>;
  /** CONFIG_GRPC_XDS_SERVER_USE_TLS; undefined means plaintext. */
  readonly tls: XdsTlsSettings | undefined;
  /** Wait before reconnecting after an established stream ended. */
  readonly backoff: XdsBackoffSettings;
  /** Largest DiscoveryResponse accepted, in bytes. */
  readonly maxMessageBytes: number;
}

/** Larger than gRPC's 4 MiB default, which large Gateway configs overflowed (reference issue 796). */
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Longer waits than this are typos (and Node timers overflow at 2^31-1 ms). */
const MAX_DELAY_MS = 24 * 3_600_000;

/** CONFIG_TYPE: one or both sources, each at most once. */
export function parseConfigTypes(env: Env, p: Problems): readonly ConfigSourceType[] {
  const raw = p.str(env, "CONFIG_TYPE", "FILE");
  const out: ConfigSourceType[] = [];
  for (const part of raw.split(",").map((s) => s.trim().toUpperCase())) {
    if ((part === "FILE" || part === "GRPC_XDS_SOTW") && !out.includes(part)) out.push(part);
    else {
      p.add(`CONFIG_TYPE=${JSON.stringify(raw)} is not FILE, GRPC_XDS_SOTW or FILE,GRPC_XDS_SOTW`);
      return ["FILE"];
    }
  }
  return out;
}

/** The xDS client settings (parsed only when CONFIG_TYPE includes GRPC_XDS_SOTW). */
export function parseXdsSettings(env: Env, p: Problems): XdsSettings {
  const backoff: XdsBackoffSettings = {
    initialMs: delay(env, p, "XDS_CLIENT_BACKOFF_INITIAL_INTERVAL", 10_000),
    maxMs: delay(env, p, "XDS_CLIENT_BACKOFF_MAX_INTERVAL", 60_000),
    randomFactor: p.float(env, "XDS_CLIENT_BACKOFF_RANDOM_FACTOR", 0.5, { min: 0, max: 1 }),
    jitter: p.bool(env, "XDS_CLIENT_BACKOFF_JITTER", true),
  };
  if (backoff.maxMs < backoff.initialMs) {
    p.add("XDS_CLIENT_BACKOFF_MAX_INTERVAL is shorter than XDS_CLIENT_BACKOFF_INITIAL_INTERVAL");
  }
  return {
    nodeId: p.str(env, "CONFIG_GRPC_XDS_NODE_ID", "default"),
    nodeMetadata: pairs(env, p, "CONFIG_GRPC_XDS_NODE_METADATA", ["=", ":"]),
    serverUrl: p.str(env, "CONFIG_GRPC_XDS_SERVER_URL", "localhost:18000"),
    connectRetryIntervalMs: delay(env, p, "CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL", 3_000),
    additionalHeaders: headers(env, p),
    tls: parseXdsTls(env, p),
    backoff,
    maxMessageBytes: p.int(env, "XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES", DEFAULT_MAX_MESSAGE_BYTES, {
      min: 1024,
      max: 2 ** 31 - 1,
    }),
  };
}

function parseXdsTls(env: Env, p: Problems): XdsTlsSettings | undefined {
  const names = ["CLIENT_TLS_CERT", "CLIENT_TLS_KEY", "SERVER_TLS_CACERT", "SERVER_TLS_SAN"].map(
    (n) => `CONFIG_GRPC_XDS_${n}`,
  );
  if (!p.bool(env, "CONFIG_GRPC_XDS_SERVER_USE_TLS", false)) {
    const set = names.filter((name) => p.raw(env, name) !== undefined);
    if (set.length > 0) p.add(`${set.join(", ")} set but CONFIG_GRPC_XDS_SERVER_USE_TLS is not true`);
    return undefined;
  }
  const clientCertFile = readableFile(env, p, "CONFIG_GRPC_XDS_CLIENT_TLS_CERT", false);
  const clientKeyFile = readableFile(env, p, "CONFIG_GRPC_XDS_CLIENT_TLS_KEY", false);
  if ((clientCertFile === undefined) !== (clientKeyFile === undefined)) {
    p.add("CONFIG_GRPC_XDS_CLIENT_TLS_CERT and CONFIG_GRPC_XDS_CLIENT_TLS_KEY must be set together");
  }
  return {
    clientCertFile,
    clientKeyFile,
    caCertFile: readableFile(env, p, "CONFIG_GRPC_XDS_SERVER_TLS_CACERT", false),
    serverSan: p.raw(env, "CONFIG_GRPC_XDS_SERVER_TLS_SAN"),
  };
}

function delay(env: Env, p: Problems, name: string, fallbackMs: number): number {
  const ms = p.durationMs(env, name, fallbackMs);
  if (ms < 1 || ms > MAX_DELAY_MS) {
    p.add(`${name}=${JSON.stringify(p.raw(env, name))} is out of range [1ms, 24h]`);
    return fallbackMs;
  }
  return ms;
}

/**
 * `k1=v1,k2:v2`: the reference's node metadata reads `k=v` pairs (its documentation shows `k:v`); both are
 * accepted, the first separator found wins. An entry with neither is an error rather than silently dropped.
 */
function pairs(env: Env, p: Problems, name: string, separators: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = p.raw(env, name);
  if (raw === undefined) return out;
  for (const entry of raw.split(",")) {
    if (entry.trim() === "") continue;
    const at = Math.min(...separators.map((s) => entry.indexOf(s)).filter((i) => i >= 0));
    const key = Number.isFinite(at) ? entry.slice(0, at).trim() : "";
    if (key === "") {
      p.add(`${name}: ${JSON.stringify(entry)} is not key${separators[0]}value`);
      continue;
    }
    out[key] = entry.slice(at + 1).trim();
  }
  return out;
}

/** CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS: `k1:v1,k2:v2` (envconfig's map format, as the reference). */
function headers(env: Env, p: Problems): Record<string, string> {
  const name = "CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS";
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(pairs(env, p, name, [":"]))) {
    const lower = key.toLowerCase();
    if (!/^[0-9a-z_.-]+$/.test(lower) || lower.startsWith("grpc-") || lower.endsWith("-bin")) {
      p.add(`${name}: ${JSON.stringify(key)} is not a usable gRPC metadata key`);
    } else out[lower] = value;
  }
  return out;
}
