/**
 * The few error classes of Sluice. No transport codes here: each edge maps them in one table
 * (transport/grpc/status.ts, transport/http/*).
 */

/** Invalid environment settings; lists every problem found at once. */
export class SettingsError extends Error {
  override readonly name = "SettingsError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid settings:\n  - ${problems.join("\n  - ")}`);
  }
}

/** An invalid rule file: names the file and the YAML path, e.g. `config.yaml: descriptors[2].rate_limit.unit: ...`. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly file: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(path ? `${file}: ${path}: ${detail}` : `${file}: ${detail}`);
  }
}

/** A request the service cannot answer as sent (gRPC INVALID_ARGUMENT, HTTP 400). */
export class InvalidRequestError extends Error {
  override readonly name = "InvalidRequestError";
}

/** No good rule set has loaded yet (gRPC UNAVAILABLE, so Envoy's failure_mode_deny applies). */
export class NoConfigError extends Error {
  override readonly name = "NoConfigError";
  constructor() {
    super("no rate limit configuration loaded");
  }
}

/** Why a counter store call failed, for metrics: no answer in time, no connection, or anything else. */
export type StoreFailureReason = "timeout" | "disconnected" | "error";

/** The counter backend failed or timed out (gRPC UNAVAILABLE). Keeps `cause`. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  /** For the store error metrics; "error" unless the thrower knows better. */
  readonly reason: StoreFailureReason;
  constructor(message: string, options?: ErrorOptions & { readonly reason?: StoreFailureReason }) {
    super(message, options);
    this.reason = options?.reason ?? "error";
  }
}
