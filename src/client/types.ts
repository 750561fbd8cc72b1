/**
 * The SDK's public types: plain TypeScript, no generated protobuf types, so callers never see the wire format
 * (the mapping lives in request.ts and result.ts).
 */

/**
 * One descriptor: its entries in order. An object is the short form (`{ provider: "replicate", model: "flux" }`);
 * use the tuple form when a key looks like an integer ("1", "42"), because JavaScript orders such keys first and
 * entry order is part of the descriptor's meaning.
 */
export type DescriptorInput = Readonly<Record<string, string>> | readonly (readonly [key: string, value: string])[];

/** The unit of a limit as Sluice reports it. */
export type LimitUnit = "second" | "minute" | "hour" | "day" | "week" | "month" | "year" | "unknown";

/** The rule that decided a descriptor (`current_limit`). */
export interface LimitInfo {
  /** The rule's `name` in the YAML, "" when it has none. */
  readonly name: string;
  readonly requestsPerUnit: number;
  readonly unit: LimitUnit;
}

/** `OK`, `OVER_LIMIT`, or `UNKNOWN` (no rule matched a descriptor, or the service did not say). */
export type DecisionCode = "OK" | "OVER_LIMIT" | "UNKNOWN";

/** The outcome for one descriptor, in request order. */
export interface DescriptorResult {
  readonly code: DecisionCode;
  /** The matching rule; undefined when no rule matched (the descriptor is unlimited). */
  readonly limit: LimitInfo | undefined;
  /** `limit_remaining`: what is left of the limit after this call. */
  readonly remaining: number;
  /**
   * `duration_until_reset` in ms: when OVER_LIMIT, how long until the request could pass (the retry-after); when OK,
   * how long until the limit is fully available again. Undefined when the service did not send it (no rule).
   */
  readonly resetAfterMs: number | undefined;
}

/** A header the service asked to add to the response (LIMIT_RESPONSE_HEADERS_ENABLED). */
export interface ResponseHeader {
  readonly key: string;
  readonly value: string;
}

/** The decision of one call, in plain types. */
export interface RateLimitResult {
  /** False only when the overall code is OVER_LIMIT. */
  readonly allowed: boolean;
  readonly code: DecisionCode;
  readonly descriptors: readonly DescriptorResult[];
  /**
   * The least `remaining` over the descriptors that have a limit, and that descriptor's limit and reset: the numbers
   * a caller shows (RateLimit-* headers). Undefined when no descriptor matched a rule.
   */
  readonly remaining: number | undefined;
  readonly limit: LimitInfo | undefined;
  readonly resetAfterMs: number | undefined;
  /** When limited: the longest reset over the OVER_LIMIT descriptors (all must pass), i.e. Retry-After. */
  readonly retryAfterMs: number | undefined;
  readonly headers: readonly ResponseHeader[];
  /** True when Sluice could not be asked and the client was created with `failOpen: true`. */
  readonly failedOpen: boolean;
}

/** Options of one call. */
export interface CallOptions {
  /** Overrides the client's `timeoutMs` for this call. */
  readonly timeoutMs?: number;
  /** Cancels the call; it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface ShouldRateLimitOptions extends CallOptions {
  /**
   * Hits to add to every descriptor (sent as the descriptor-level `hits_addend`, so 0 means "check without
   * counting"). Omitted: 1, as Envoy sends.
   */
  readonly hits?: number;
}

export interface WaitOptions extends CallOptions {
  /** Give up (reject with a SluiceError WAIT_TIMEOUT) when being allowed would take longer than this. */
  readonly maxWaitMs: number;
  /** Hits each attempt adds (default 1). */
  readonly hits?: number;
  /** Called before each sleep with the limited result and the wait chosen (e.g. to log "waiting 12 s for quota"). */
  readonly onRetry?: (result: RateLimitResult, waitMs: number) => void;
}
