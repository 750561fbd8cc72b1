/** createClient options, validated once into a frozen object (invalid options throw at construction). */
import { setTimeout as delay } from "node:timers/promises";

/**
 * TLS to Sluice: `true` uses the system CAs; PEM bytes (a Buffer from readFile) for a private CA and/or a client
 * certificate. Typed as Uint8Array so the declarations need no Node types.
 */
export interface TlsOptions {
  readonly ca?: Uint8Array;
  readonly cert?: Uint8Array;
  readonly key?: Uint8Array;
}

/** Time, injectable so waitUntilAllowed can be tested without waiting. */
export interface WaitClock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A number in [0, 1) for jitter. */
  random(): number;
}

export interface ClientOptions {
  /** `host:port` of Sluice's gRPC port (GRPC_PORT, 8081), or `unix:/path` (GRPC_UDS). */
  readonly address: string;
  /** Deadline of each call in ms (default 1000). */
  readonly timeoutMs?: number;
  /** TLS (default: plaintext, as Sluice's gRPC port serves). */
  readonly tls?: boolean | TlsOptions;
  /**
   * What a call returns when Sluice is down or too slow (UNAVAILABLE, DEADLINE_EXCEEDED): `true` answers "allowed"
   * with `failedOpen: true` (availability over enforcement, as Envoy's default `failure_mode_deny: false`);
   * `false` (default) rejects with a SluiceError, so the caller decides. INVALID_ARGUMENT always rejects.
   */
  readonly failOpen?: boolean;
  /** waitUntilAllowed: extra random wait, as a fraction of the retry time (default 0.1), so waiters spread out. */
  readonly jitter?: number;
  /** waitUntilAllowed: least wait between attempts in ms (default 100), for limits whose reset reads 0 s. */
  readonly minRetryMs?: number;
  /** Extra grpc-js channel options (e.g. keepalive). */
  readonly channelOptions?: Readonly<Record<string, string | number>>;
  /** For tests: the clock and random source of waitUntilAllowed. */
  readonly clock?: WaitClock;
}

export interface ResolvedOptions {
  readonly address: string;
  readonly timeoutMs: number;
  readonly tls: false | TlsOptions;
  readonly failOpen: boolean;
  readonly jitter: number;
  readonly minRetryMs: number;
  readonly channelOptions: Readonly<Record<string, string | number>>;
  readonly clock: WaitClock;
}

export const systemClock: WaitClock = Object.freeze({
  now: () => Date.now(),
  sleep: async (ms: number, signal?: AbortSignal) => {
    if (signal === undefined) return delay(ms);
    // timers/promises rejects with its own AbortError; callers expect the signal's reason, as fetch gives.
    return delay(ms, undefined, { signal }).catch((err: unknown) => {
      throw signal.aborted ? signal.reason : err;
    });
  },
  random: () => Math.random(),
});

/**
 * Reconnect quickly after Sluice restarts: grpc-js backs off up to 120 s by default, which would keep a client
 * failing long after the service is back.
 */
const DEFAULT_CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 2_000,
};

export function resolveOptions(o: ClientOptions): ResolvedOptions {
  if (typeof o?.address !== "string" || o.address === "") throw new TypeError("createClient: address is required");
  const timeoutMs = o.timeoutMs ?? 1_000;
  positive(timeoutMs, "timeoutMs");
  const jitter = o.jitter ?? 0.1;
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError(`createClient: jitter must be within [0, 1], got ${jitter}`);
  const minRetryMs = o.minRetryMs ?? 100;
  positive(minRetryMs, "minRetryMs");
  return Object.freeze({
    address: o.address,
    timeoutMs,
    tls: o.tls === true ? {} : o.tls === undefined || o.tls === false ? false : o.tls,
    failOpen: o.failOpen ?? false,
    jitter,
    minRetryMs,
    channelOptions: { ...DEFAULT_CHANNEL_OPTIONS, ...o.channelOptions },
    clock: o.clock ?? systemClock,
  });
}

function positive(n: number, name: string): void {
  if (!(Number.isFinite(n) && n > 0)) throw new TypeError(`createClient: ${name} must be a positive number, got ${n}`);
}
