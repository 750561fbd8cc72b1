/**
 * The gRPC listener: RateLimitService + grpc.health.v1 on GRPC_HOST:GRPC_PORT (or GRPC_UDS). Shutdown is
 * `tryShutdown` (stop accepting, let in-flight calls finish) bounded by a deadline, then `forceShutdown`, so idle or
 * stuck client connections can never hold the process past the deadline.
 */
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { RateLimiter } from "../../domain/ports.js";
import type { Stats } from "../../telemetry/stats.js";
import { formatHostPort } from "../address.js";
import type { Health } from "../health.js";
import { createGrpcHealthService, HealthServiceDefinition } from "./health.js";
import { REQUEST_LIMITS } from "./map.js";
import { createRlsService, RlsServiceDefinition } from "./rls-service.js";

export interface GrpcServerOptions {
  readonly host: string;
  /** 0 binds a free port. */
  readonly port: number;
  /** Unix socket path; when set, host/port are not used. */
  readonly uds?: string | undefined;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly limiter: RateLimiter;
  readonly health: Health;
  readonly stats: Stats;
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

/** Binds and starts the gRPC server. Rejects if the address cannot be bound. */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const log = options.log.child({ component: "grpc" });
  const server = new Server({
    "grpc.max_receive_message_length": REQUEST_LIMITS.maxMessageBytes,
    "grpc.max_connection_age_ms": options.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": options.maxConnectionAgeGraceMs,
  });
  server.addService(RlsServiceDefinition, createRlsService({ limiter: options.limiter, stats: options.stats, log }));
  const healthService = createGrpcHealthService(options.health);
  server.addService(HealthServiceDefinition, healthService);

  const target = options.uds ? `unix:${options.uds}` : formatHostPort(options.host, options.port);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  const address = options.uds ? target : formatHostPort(options.host, port);
  let closing: Promise<void> | undefined;
  return {
    // grpc-js reports 1 for a bound unix socket; there is no TCP port then.
    port: options.uds ? 0 : port,
    address,
    close(deadlineMs) {
      closing ??= new Promise<void>((resolve) => {
        healthService.endWatches();
        const timer = setTimeout(() => {
          log.warn({ deadlineMs }, "gRPC calls still running at the shutdown deadline; closing connections");
          server.forceShutdown();
          resolve();
        }, deadlineMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
