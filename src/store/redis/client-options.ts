/**
 * ioredis options for each topology (single over TCP or a unix socket, Sentinel, Cluster), with TLS. Every choice
 * here serves the failure contract of the Redis store:
 * - no offline queue: a call made while disconnected fails at once instead of waiting for a reconnect;
 * - no retries or resends of in-flight commands after a disconnect (a resent INCRBY could count twice);
 * - a socket that stops answering (a hung or SIGSTOPped Redis) is destroyed after `stallTimeoutMs` and reconnected;
 * - reconnects back off exponentially from 50 ms, capped at 1 s (with jitter), forever: the process never gives up
 *   and serves again within about a second of Redis returning.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { ClusterOptions, RedisOptions } from "ioredis";
import { SettingsError } from "../../domain/errors.js";
import type { RedisAddress, RedisEndpointSettings, RedisTlsSettings } from "../../settings/redis-settings.js";

/** Upper bound of the reconnect backoff. */
export const RECONNECT_CAP_MS = 1_000;
const RECONNECT_FIRST_MS = 50;

/**
 * Reconnect delay for the n-th consecutive failed attempt (n >= 1): 50 ms doubling up to 1 s, times a random factor
 * in [0.5, 1] so a fleet does not reconnect in lockstep.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_CAP_MS, RECONNECT_FIRST_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 10));
  return Math.round(base * (0.5 + random() / 2));
}

/**
 * How long a connection may leave sent commands unanswered before it is considered dead and replaced: long enough not
 * to churn connections on a brief Redis stall, short enough to bound what queues up while Redis hangs.
 */
export function stallTimeoutMs(endpoint: RedisEndpointSettings): number {
  return Math.max(1_000, 2 * endpoint.timeoutMs);
}

/** Reads the TLS files; a missing or unreadable file is a startup error naming the variable. */
export function tlsOptions(tls: RedisTlsSettings): ConnectionOptions {
  const problems: string[] = [];
  const read = (name: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      problems.push(`${name}=${path}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const ca = read("REDIS_TLS_CACERT", tls.caCertFile);
  const cert = read("REDIS_TLS_CLIENT_CERT", tls.clientCertFile);
  const key = read("REDIS_TLS_CLIENT_KEY", tls.clientKeyFile);
  if (problems.length > 0) throw new SettingsError(problems);
  const options: ConnectionOptions = { rejectUnauthorized: true };
  if (ca !== undefined) options.ca = ca;
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  // The chain is still verified against the CA; only the name check is skipped (as the reference does).
  if (tls.skipHostnameVerification) options.checkServerIdentity = () => undefined;
  return options;
}

/** Options shared by every Redis connection of one endpoint (single, sentinel master, cluster node). */
function commonOptions(endpoint: RedisEndpointSettings, tls: ConnectionOptions | undefined): RedisOptions {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    connectTimeout: endpoint.connectTimeoutMs,
    socketTimeout: stallTimeoutMs(endpoint),
    keepAlive: 10_000,
    connectionName: "sluice",
    disableClientInfo: true,
    retryStrategy: (attempt: number) => reconnectDelayMs(attempt),
    // After a failover a connection may still point at the demoted master: reconnect (the failed call is not resent).
    reconnectOnError: (err: Error) => err.message.startsWith("READONLY"),
  };
  if (endpoint.auth !== undefined) {
    options.password = endpoint.auth.password;
    if (endpoint.auth.username !== undefined) options.username = endpoint.auth.username;
  }
  if (tls !== undefined) options.tls = tls;
  return options;
}

function tcp(a: RedisAddress): { host: string; port: number } {
  if (a.kind !== "tcp") throw new SettingsError([`${a.path}: a unix socket is only supported with REDIS_TYPE=single`]);
  return { host: a.host, port: a.port };
}

/** Options for `new Redis(...)`: single (TCP or unix socket) and sentinel. */
export function redisOptions(endpoint: RedisEndpointSettings): RedisOptions {
  const tls = endpoint.tls === undefined ? undefined : tlsOptions(endpoint.tls);
  const options = commonOptions(endpoint, tls);
  options.db = endpoint.db;
  if (endpoint.topology === "sentinel") {
    options.sentinels = endpoint.addresses.map(tcp);
    options.name = endpoint.sentinelMasterName ?? "";
    options.role = "master";
    options.failoverDetector = true;
    options.sentinelRetryStrategy = (attempt: number) => reconnectDelayMs(attempt);
    options.sentinelCommandTimeout = endpoint.connectTimeoutMs;
    if (endpoint.sentinelAuth !== undefined) {
      options.sentinelPassword = endpoint.sentinelAuth.password;
      if (endpoint.sentinelAuth.username !== undefined) options.sentinelUsername = endpoint.sentinelAuth.username;
    }
    if (tls !== undefined) {
      // The reference dials sentinels and the master with the same TLS settings.
      options.enableTLSForSentinelMode = true;
      options.sentinelTLS = tls;
    }
    return options;
  }
  const address = endpoint.addresses[0];
  if (address === undefined) throw new SettingsError([`${endpoint.name}: no Redis address`]);
  if (address.kind === "unix") options.path = address.path;
  else {
    options.host = address.host;
    options.port = address.port;
  }
  return options;
}

/** Seed nodes and options for `new Cluster(...)`. */
export function clusterOptions(endpoint: RedisEndpointSettings): {
  nodes: { host: string; port: number }[];
  options: ClusterOptions;
} {
  const tls = endpoint.tls === undefined ? undefined : tlsOptions(endpoint.tls);
  const { retryStrategy: _r, enableOfflineQueue: _e, ...nodeOptions } = commonOptions(endpoint, tls);
  const options: ClusterOptions = {
    enableOfflineQueue: false,
    enableReadyCheck: true,
    clusterRetryStrategy: (attempt: number) => reconnectDelayMs(attempt),
    clusterNodeRetryStrategy: (attempt: number) => reconnectDelayMs(attempt),
    slotsRefreshTimeout: endpoint.connectTimeoutMs,
    redisOptions: nodeOptions,
  };
  return { nodes: endpoint.addresses.map(tcp), options };
}
