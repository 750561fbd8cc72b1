/**
 * Error → gRPC status: the only place that knows gRPC codes. Infrastructure failures and "no config yet" are
 * UNAVAILABLE on purpose, so Envoy's `failure_mode_deny` decides what happens (the reference answers UNKNOWN).
 */
import type { Logger } from "pino";
import { InvalidRequestError, NoConfigError, StoreUnavailableError } from "../../domain/errors.js";
import type { CallErrorKind } from "../../domain/ports.js";
import { GrpcStatus, type GrpcStatusCode } from "../h2grpc/protocol.js";

export interface MappedError {
  readonly code: GrpcStatusCode;
  readonly details: string;
  /** Which reference stat the error counts toward. */
  readonly kind: CallErrorKind;
}

/** Maps an error thrown by the engine (or the mapping) to a gRPC status; unexpected errors are logged at error. */
export function toGrpcError(err: unknown, log: Logger): MappedError {
  if (err instanceof InvalidRequestError) {
    return { code: GrpcStatus.INVALID_ARGUMENT, details: err.message, kind: "service_error" };
  }
  if (err instanceof NoConfigError) {
    return { code: GrpcStatus.UNAVAILABLE, details: err.message, kind: "service_error" };
  }
  if (err instanceof StoreUnavailableError) {
    return { code: GrpcStatus.UNAVAILABLE, details: err.message, kind: "redis_error" };
  }
  log.error({ err }, "unexpected error in ShouldRateLimit");
  return { code: GrpcStatus.INTERNAL, details: "internal error", kind: "service_error" };
}
