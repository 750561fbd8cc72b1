/**
 * The gRPC listener: RateLimitService + grpc.health.v1 on GRPC_HOST:GRPC_PORT (or GRPC_UDS), served by the
 * node:http2 gRPC server in ../h2grpc. Shutdown ends health Watch streams, stops accepting, drains connections with
 * a graceful GOAWAY and lets in-flight calls finish, bounded by a deadline after which every connection is cut, so
 * idle or stuck clients can never hold the process.
 */
import type { Logger } from "pino";
import type { CallObserver, RateLimiter } from "../../domain/ports.js";
import type { GrpcTlsSettings } from "../../settings/tls-settings.js";
import { formatHostPort } from "../address.js";
import { createH2GrpcServer } from "../h2grpc/server.js";
import type { Health } from "../health.js";
import { createGrpcHealthService } from "./health.js";
import { REQUEST_LIMITS } from "./map.js";
import { createRlsMethod } from "./rls-service.js";
import { loadTlsFiles } from "./tls-files.js";

export interface GrpcServerOptions {
  readonly host: string;
  /** 0 binds a free port. */
  readonly port: number;
  /** Unix socket path; when set, host/port are not used. */
  readonly uds?: string | undefined;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  /** GRPC_SERVER_USE_TLS: serve TLS with these files (reloaded when they change). */
  readonly tls?: GrpcTlsSettings | undefined;
  /** How often the TLS files are checked for a change; 5 s by default. */
  readonly tlsPollMs?: number;
  /** MAX_CONNECTIONS. */
  readonly maxConnections: number;
  readonly limiter: RateLimiter;
  readonly health: Health;
  readonly calls: CallObserver;
  readonly log: Logger;
}

export interface GrpcServer {
  /** The bound TCP port (0 for a unix socket). */
  readonly port: number;
  /** Human-readable listen address for logs. */
  readonly address: string;
  /** Stops accepting; waits up to `deadlineMs` for in-flight calls, then cuts every connection. */
  close(deadlineMs: number): Promise<void>;
}

/**
 * Binds and starts the gRPC server. Rejects if the address cannot be bound, or with SettingsError if the TLS files
 * cannot be used.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const log = options.log.child({ component: "grpc" });
  const tls = options.tls ? loadTlsFiles(options.tls, log, options.tlsPollMs) : undefined;
  const healthService = createGrpcHealthService(options.health);
  const server = createH2GrpcServer({
    methods: [createRlsMethod({ limiter: options.limiter, calls: options.calls, log }), ...healthService.methods],
    maxMessageBytes: REQUEST_LIMITS.maxMessageBytes,
    maxConnectionAgeMs: options.maxConnectionAgeMs,
    maxConnectionAgeGraceMs: options.maxConnectionAgeGraceMs,
    ...(tls ? { tls: tls.options } : {}),
    maxConnections: options.maxConnections,
    log,
  });
  const port = await server.listen(options.uds ? { path: options.uds } : { host: options.host, port: options.port });
  tls?.watch((context) => server.setSecureContext(context));
  let closing: Promise<void> | undefined;
  return {
    port,
    address: options.uds ? `unix:${options.uds}` : formatHostPort(options.host, port),
    close(deadlineMs) {
      closing ??= (() => {
        healthService.endWatches();
        tls?.close();
        return server.close(deadlineMs);
      })();
      return closing;
    },
  };
}
