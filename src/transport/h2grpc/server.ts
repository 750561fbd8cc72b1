/**
 * A unary and server-streaming gRPC server directly on node:http2: cleartext with prior knowledge (what Envoy and
 * gRPC clients speak to a plain-text upstream), or TLS with ALPN `h2` when `tls` is given (then certificates can be
 * swapped at runtime with setSecureContext: new handshakes use them, open connections and their calls go on). It replaces @grpc/grpc-js on the serving side because that layer cost
 * about a fifth of the per-request budget (issue 4); this one does only what the two Sluice services need:
 * route by `:path`, check method and content type, read one bounded message, honour `grpc-timeout`, answer.
 *
 * Robustness: a bad preface or malformed frames end that session only (nghttp2 answers with GOAWAY; a connection
 * left open after that is closed by the liveness PINGs, sessions.ts); stream errors and client resets are absorbed
 * (logged at debug); nothing a peer sends can throw out of a listener. Shutdown stops accepting, drains every
 * session with a graceful GOAWAY (idle ones close at once), lets in-flight calls finish and cuts what is left at the
 * deadline. node:cluster shares the listener between WORKERS like any net server.
 */
import {
  constants,
  createSecureServer,
  createServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { SecureContextOptions, TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { type CallContext, type GrpcMethod, ServerCall, sendHttpError, sendTrailersOnly } from "./call.js";
import { createDeadlineTracker } from "./deadlines.js";
import { GrpcStatus, isGrpcProtoContentType, parseGrpcTimeout } from "./protocol.js";
import { createRequestBudget, DEFAULT_REQUEST_BUDGET, type RequestBudgetLimits } from "./request-budget.js";
import { createSessions } from "./sessions.js";

export interface H2GrpcServerOptions {
  readonly methods: readonly GrpcMethod[];
  /** Largest request message (after decompression), in bytes; larger ones are RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** GOAWAY after this age (±10 %); 2^31-1 or more means never. */
  readonly maxConnectionAgeMs: number;
  /** Then close the connection after this much more. */
  readonly maxConnectionAgeGraceMs: number;
  /** PING period of the connection liveness check (sessions.ts); default 60 s. */
  readonly livenessIntervalMs?: number;
  /** Serve TLS instead of cleartext. */
  readonly tls?: H2TlsOptions;
  /** Preface + SETTINGS must arrive within this; default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Connections accepted at once; more are closed on accept (net.Server maxConnections). 0 = no cap. */
  readonly maxConnections?: number;
  /** Bounds on unfinished requests (request-budget.ts). */
  readonly requestBudget?: RequestBudgetLimits;
  readonly log: Logger;
}

export interface H2TlsOptions {
  /** Key, certificate chain and (to verify clients) CA, as node:tls takes them. */
  readonly context: SecureContextOptions;
  /** Ask for a client certificate and refuse the handshake without a valid one. */
  readonly requireClientCert: boolean;
  /**
   * Checked once per connection after the handshake, before any call is read; false closes the connection (e.g.
   * a client certificate without the required subject alt name).
   */
  readonly acceptPeer?: (socket: TLSSocket) => boolean;
}

const DEFAULT_LIVENESS_INTERVAL_MS = 60_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Where to listen: TCP host and port (0 = any free port), or a unix socket path. */
export type ListenTarget = { readonly host: string; readonly port: number } | { readonly path: string };

export interface H2GrpcServer {
  /** Binds; resolves with the bound TCP port (0 for a unix socket). Rejects if the address cannot be bound. */
  listen(target: ListenTarget): Promise<number>;
  /** Stops accepting, drains sessions, waits up to `deadlineMs` for in-flight calls, then cuts the rest. */
  close(deadlineMs: number): Promise<void>;
  /** TLS only: the key and certificates for new handshakes (open connections keep theirs). */
  setSecureContext(context: SecureContextOptions): void;
}

/**
 * HTTP/2 settings. Streams per connection are bounded (Envoy opens another connection when a server's limit is
 * reached); a request's header list is small (Envoy and gRPC clients send a few hundred bytes), 16 KiB is gRPC's
 * usual hard limit; per-session memory bounds what one peer can make nghttp2 hold.
 */
const MAX_HEADER_LIST_BYTES = 16 * 1024;

/**
 * The size SETTINGS_MAX_HEADER_LIST_SIZE speaks of (RFC 9113 §6.5.2: name + value + 32 per field). nghttp2 only
 * advertises the setting; this enforces it. A few fields per call, so the sum is cheap.
 */
function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += (raw[i] as string).length + 16;
  return size;
}

const HTTP2_OPTIONS = Object.freeze({
  maxSessionMemory: 32, // MB
  maxHeaderListPairs: 128,
  settings: Object.freeze({
    maxConcurrentStreams: 1_000,
    maxHeaderListSize: MAX_HEADER_LIST_BYTES,
    enablePush: false,
  }),
});

/** Creates the server; nothing is bound until listen(). */
export function createH2GrpcServer(options: H2GrpcServerOptions): H2GrpcServer {
  const { log } = options;
  const routes = new Map(options.methods.map((m) => [m.path, m]));
  const deadlines = createDeadlineTracker();
  const budget = createRequestBudget(
    options.requestBudget ?? DEFAULT_REQUEST_BUDGET,
    undefined,
    HTTP2_OPTIONS.settings.maxConcurrentStreams,
  );
  const ctx: CallContext = { maxMessageBytes: options.maxMessageBytes, deadlines, budget, log };
  const sessions = createSessions({
    maxConnectionAgeMs: options.maxConnectionAgeMs,
    maxConnectionAgeGraceMs: options.maxConnectionAgeGraceMs,
    livenessIntervalMs: options.livenessIntervalMs ?? DEFAULT_LIVENESS_INTERVAL_MS,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    callsInFlight: (session) => budget.ledgerOf(session).inFlight,
    log,
  });
  const tls = options.tls;
  const server = tls
    ? createSecureServer({
        ...HTTP2_OPTIONS,
        ...tls.context,
        requestCert: tls.requireClientCert,
        rejectUnauthorized: tls.requireClientCert,
        handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      })
    : createServer(HTTP2_OPTIONS);
  if (options.maxConnections !== undefined && options.maxConnections > 0)
    server.maxConnections = options.maxConnections;

  const onStreamError = (err: Error): void => {
    if (log.isLevelEnabled("debug")) log.debug({ err }, "gRPC stream error");
  };
  server.on("session", (session: ServerHttp2Session) => {
    if (tls?.acceptPeer && !tls.acceptPeer(session.socket as TLSSocket)) {
      session.destroy();
      return;
    }
    sessions.add(session);
  });
  // A refused handshake (no or wrong client certificate, not TLS at all) ends that connection only.
  server.on("tlsClientError", (err) => {
    if (log.isLevelEnabled("debug")) log.debug({ err }, "TLS handshake refused");
  });
  // node:http2's own listener of this event runs first and emits 'session' synchronously: this is that session's
  // socket (the TCP socket in cleartext, the TLS socket once its handshake is done with TLS).
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => sessions.attachSocket(socket));
  // Every accepted TCP connection, whatever became of it (an HTTP/2 session, a TLS handshake still running, or
  // nothing yet): once shutdown has nothing in flight, whatever is still open is reset, so no connection can keep
  // the process or a client waiting.
  const accepted = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    accepted.add(socket);
    socket.once("close", () => accepted.delete(socket));
  });
  server.on("sessionError", (err) => {
    if (log.isLevelEnabled("debug")) log.debug({ err }, "HTTP/2 session error; connection closed");
  });
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    stream.on("error", onStreamError);
    try {
      if (headerListSize(raw) > MAX_HEADER_LIST_BYTES) {
        const detail = `request header list larger than ${MAX_HEADER_LIST_BYTES} bytes`;
        sendTrailersOnly(stream, GrpcStatus.RESOURCE_EXHAUSTED, detail);
        stream.close(constants.NGHTTP2_NO_ERROR);
        return;
      }
      dispatch(stream, headers);
    } catch (err) {
      log.error({ err }, "gRPC dispatch failed");
      stream.destroy();
    }
  });

  function dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = headers[":path"] ?? "";
    if (headers[":method"] !== "POST") {
      sendHttpError(stream, 405, `gRPC requires POST, not ${String(headers[":method"])}`);
      return;
    }
    const contentType = headers["content-type"];
    if (!isGrpcProtoContentType(contentType)) {
      sendHttpError(stream, 415, `invalid gRPC request content-type ${JSON.stringify(contentType ?? "")}`);
      return;
    }
    const method = routes.get(path);
    if (method === undefined) {
      sendTrailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `The server does not implement the method ${path}`);
      return;
    }
    let deadlineMs = Number.POSITIVE_INFINITY;
    const timeout = headers["grpc-timeout"];
    if (timeout !== undefined) {
      const ms = typeof timeout === "string" ? parseGrpcTimeout(timeout) : undefined;
      if (ms === undefined) {
        sendTrailersOnly(stream, GrpcStatus.INTERNAL, `invalid grpc-timeout ${JSON.stringify(timeout)}`);
        return;
      }
      deadlineMs = deadlines.now() + ms;
    }
    const encoding = headers["grpc-encoding"];
    new ServerCall(
      stream,
      method,
      ctx,
      typeof encoding === "string" ? encoding : undefined,
      deadlineMs,
      headers,
    ).start();
  }

  let closing: Promise<void> | undefined;
  return {
    listen(target) {
      return new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        const bound = (): void => {
          server.off("error", reject);
          server.on("error", (err) => log.error({ err }, "gRPC listener error"));
          resolve("path" in target ? 0 : (server.address() as AddressInfo).port);
        };
        if ("path" in target) server.listen(target.path, bound);
        else server.listen(target.port, target.host, bound);
      });
    },
    setSecureContext(context) {
      if (!tls) throw new Error("setSecureContext() on a cleartext server");
      (server as ReturnType<typeof createSecureServer>).setSecureContext(context);
    },
    close(deadlineMs) {
      closing ??= new Promise<void>((resolve) => {
        const cut = setTimeout(() => {
          log.warn({ deadlineMs, connections: sessions.size }, "gRPC calls still running at the shutdown deadline");
          sessions.destroyAll();
          done();
        }, deadlineMs);
        function done(): void {
          clearTimeout(cut);
          deadlines.clear();
          budget.clear();
          sessions.stop();
          setImmediate(resetRemaining);
          resolve();
        }
        function resetRemaining(): void {
          for (const socket of accepted) {
            if (socket.destroyed) continue;
            try {
              socket.resetAndDestroy();
            } catch {
              socket.destroy();
            }
          }
          accepted.clear();
        }
        server.close(() => done());
        // Resolve once no call is in flight: the connections still open are idle and are being cut.
        sessions.drainAll(() => done());
      });
      return closing;
    },
  };
}
