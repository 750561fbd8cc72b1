/**
 * An ADS state-of-the-world client for one resource type (envoyproxy/ratelimit's go-control-plane `sotw` client,
 * on @grpc/grpc-js): it opens StreamAggregatedResources, subscribes to every resource of the type, hands each
 * response to `apply` and answers with an ACK (the response's version and nonce) or, when `apply` throws, a NACK
 * (the last accepted version, the nonce, and `error_detail` carrying the error's message). When the stream ends
 * for any reason the client is dropped and a new one connects after the backoff delay (backoff.ts); the TLS files
 * are read again on every attempt, so rotated client certificates are picked up. Responses larger than
 * XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES end the stream (RESOURCE_EXHAUSTED) instead of being buffered.
 */
import { readFileSync } from "node:fs";
import { type ChannelCredentials, type ClientDuplexStream, credentials, Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  AggregatedDiscoveryServiceClient,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from "../../gen/envoy/service/discovery/v3/discovery.js";
import type { Any } from "../../gen/google/protobuf/any.js";
import type { XdsSettings } from "../../settings/xds-settings.js";
import { createBackoff } from "./backoff.js";

/** google.rpc.Code INVALID_ARGUMENT: the code of a NACK's error_detail. */
const INVALID_ARGUMENT = 3;

export interface AdsClientOptions {
  readonly settings: XdsSettings;
  readonly typeUrl: string;
  /** Applies one response (the complete state); throws to reject it. Synchronous, so responses never overlap. */
  readonly apply: (resources: readonly Any[], version: string) => void;
  readonly log: Logger;
  /** Jitter source, [0, 1). */
  readonly random?: () => number;
}

export interface AdsClient {
  /** Connects; reconnects on its own until close(). */
  start(): void;
  /** Ends the stream and stops reconnecting. Idempotent. */
  close(): void;
  /** Connection attempts, ACKs and NACKs sent so far. */
  readonly stats: { readonly attempts: number; readonly acks: number; readonly nacks: number };
}

export function createAdsClient(options: AdsClientOptions): AdsClient {
  const { settings, typeUrl, log } = options;
  const backoff = createBackoff(settings.connectRetryIntervalMs, settings.backoff, options.random);
  const stats = { attempts: 0, acks: 0, nacks: 0 };
  const node = {
    id: settings.nodeId,
    cluster: "",
    metadata: settings.nodeMetadata,
    userAgentName: "sluice",
  };
  let lastAcked = "";
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let current:
    | { client: AggregatedDiscoveryServiceClient; call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }
    | undefined;

  const request = (nonce: string, error?: string): DiscoveryRequest => ({
    versionInfo: lastAcked,
    node,
    resourceNames: [],
    typeUrl,
    responseNonce: nonce,
    ...(error === undefined ? {} : { errorDetail: { code: INVALID_ARGUMENT, message: error, details: [] } }),
  });

  function connect(): void {
    timer = undefined;
    if (closed) return;
    stats.attempts++;
    let client: AggregatedDiscoveryServiceClient;
    try {
      client = new AggregatedDiscoveryServiceClient(
        settings.serverUrl,
        channelCredentials(settings),
        channelOptions(settings),
      );
    } catch (err) {
      log.error({ err, server: settings.serverUrl }, "xDS client cannot be set up; retrying");
      retry();
      return;
    }
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(settings.additionalHeaders)) metadata.set(k, v);
    const call = client.streamAggregatedResources(metadata);
    current = { client, call };
    let done = false;
    const end = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      client.close();
      if (current?.call === call) current = undefined;
      if (closed) return;
      const delayMs = retry();
      log.warn({ err, server: settings.serverUrl, delayMs, attempt: stats.attempts }, "xDS stream ended; reconnecting");
    };
    call.on("data", (response: DiscoveryResponse) => {
      backoff.reset();
      respond(call, response);
    });
    call.on("error", (err) => end(err));
    call.on("end", () => end(undefined));
    call.write(request(""));
    if (log.isLevelEnabled("debug"))
      log.debug({ server: settings.serverUrl, attempt: stats.attempts }, "xDS stream opened");
  }

  function respond(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>, response: DiscoveryResponse): void {
    let error: string | undefined;
    try {
      if (response.typeUrl !== typeUrl) throw new Error(`unexpected type_url ${JSON.stringify(response.typeUrl)}`);
      options.apply(response.resources, response.versionInfo);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (error === undefined) {
      lastAcked = response.versionInfo;
      stats.acks++;
    } else {
      stats.nacks++;
    }
    call.write(request(response.nonce, error));
  }

  function retry(): number {
    const delayMs = backoff.next();
    timer = setTimeout(connect, delayMs);
    timer.unref();
    return delayMs;
  }

  return {
    start() {
      if (stats.attempts === 0 && !closed && timer === undefined) connect();
    },
    close() {
      closed = true;
      clearTimeout(timer);
      current?.call.cancel();
      current?.client.close();
      current = undefined;
    },
    get stats() {
      return { ...stats };
    },
  };
}

function channelCredentials(settings: XdsSettings): ChannelCredentials {
  const tls = settings.tls;
  if (tls === undefined) return credentials.createInsecure();
  const read = (path: string | undefined): Buffer | null => (path === undefined ? null : readFileSync(path));
  return credentials.createSsl(read(tls.caCertFile), read(tls.clientKeyFile), read(tls.clientCertFile));
}

/**
 * Keepalive PINGs every 5 minutes (gRPC servers' default minimum, so go-control-plane does not answer
 * `too_many_pings`) notice a management server that vanished without closing the connection; the stream then ends
 * and the client reconnects.
 */
const KEEPALIVE_MS = 300_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

function channelOptions(settings: XdsSettings): Record<string, string | number> {
  return {
    "grpc.max_receive_message_length": settings.maxMessageBytes,
    "grpc.keepalive_time_ms": KEEPALIVE_MS,
    "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
    ...(settings.tls?.serverSan === undefined ? {} : { "grpc.ssl_target_name_override": settings.tls.serverSan }),
  };
}
