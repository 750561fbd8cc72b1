/**
 * The SDK's one error class plus a code (as connect-es does): callers switch on `code`, never on gRPC numbers.
 * Being over the limit is not an error; it is a result with `allowed: false`.
 */

export type SluiceErrorCode =
  /** Sluice could not be reached, or it could not decide (e.g. its Redis is down): gRPC UNAVAILABLE. */
  | "UNAVAILABLE"
  /** The call did not finish within `timeoutMs`: gRPC DEADLINE_EXCEEDED. */
  | "DEADLINE_EXCEEDED"
  /** Sluice refused the request as sent (too long, bad numbers): gRPC INVALID_ARGUMENT. A bug in the caller. */
  | "INVALID_ARGUMENT"
  /** waitUntilAllowed: being allowed would take longer than `maxWaitMs`. */
  | "WAIT_TIMEOUT"
  /** Any other gRPC status (INTERNAL, UNIMPLEMENTED: not a rate limit service...). */
  | "INTERNAL";

export class SluiceError extends Error {
  override readonly name = "SluiceError";
  constructor(
    readonly code: SluiceErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Infrastructure failures, the ones `failOpen` turns into an allowed result. */
export function isOutage(err: unknown): err is SluiceError {
  return err instanceof SluiceError && (err.code === "UNAVAILABLE" || err.code === "DEADLINE_EXCEEDED");
}
