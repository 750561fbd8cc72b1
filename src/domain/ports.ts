/** Ports of the decision core: what the engine needs from the outside world. Interfaces only. */
import type { StoreFailureReason } from "./errors.js";
import type { CounterOp, Decision, Limit, LimitRule, Millis, Outcome, RateLimitRequest, RuleSet } from "./types.js";

/**
 * Batch-shaped counter storage. Applies each op with its algorithm, every all-or-nothing group (a descriptor's
 * limits, `CounterOp.group`) atomically, and returns one Outcome per op, in order.
 * Must reject only with StoreUnavailableError (backend down, timeout); being over a limit is an Outcome.
 */
export interface CounterStore {
  apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]>;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}

/** Injected wall clock, so tests can drive windows deterministically. */
export interface Clock {
  nowMs(): Millis;
}

/** Source of the current rules; `current()` is undefined until a good rule set has loaded. */
export interface RuleSource {
  current(): RuleSet | undefined;
}

/** Per-descriptor outcome reported to metrics (reference stat names). */
export interface DescriptorOutcome {
  readonly domain: string;
  readonly rule: LimitRule;
  /** The limit that decided the descriptor's answer (see engine/finish.ts). */
  readonly limit: Limit;
  /**
   * Stats key when it differs from `rule.fullKey`: a `detailed_metric` or `value_to_metric` rule puts request values
   * into it (reference GetLimit). Optional and additive; absent means `rule.fullKey`.
   */
  readonly metricKey?: string;
  readonly hits: number;
  readonly overLimitHits: number;
  readonly nearLimitHits: number;
  readonly withinLimitHits: number;
  readonly overLimitWithLocalCache: boolean;
  readonly shadowMode: boolean;
}

/** Receives decision statistics; implemented by telemetry, a no-op in tests. Must not throw or block. */
export interface DecisionObserver {
  descriptorDecided(outcome: DescriptorOutcome): void;
  domainNotFound(domain: string): void;
  globalShadowMode(): void;
  /** The request's counter store call(s) settled (answered or rejected) after `durationMs` in total. */
  storeApplied(durationMs: number): void;
  /**
   * The clock store durations are measured with (ms, monotonic). A constant 0 when nothing records them (no metrics,
   * no tracing), so an unobserved decision does not read the clock for them.
   */
  now(): number;
}

/** Reference `ratelimit.service.call.should_rate_limit.*` error stats. */
export type CallErrorKind = "redis_error" | "service_error";

/** Reads the request's headers / gRPC metadata (for trace propagation). */
export interface HeaderReader {
  /** The value of a header by lower-case name; the first one if repeated. */
  header(name: string): string | undefined;
}

/**
 * The open trace span of one call. Passed explicitly (no active-context propagation: on Node 20 that hooks every
 * promise of every call, traced or not).
 */
export interface CallSpan {
  /** `trace_id` and `span_id`, for the call's log lines. */
  readonly logFields: Readonly<Record<string, string>>;
  /**
   * Ends the span with the overall code (`OK`, `OVER_LIMIT`) or the gRPC status name of the error, and the
   * decision's store time when there was one.
   */
  end(code: string, error?: unknown, storeMs?: number): void;
}

/**
 * Receives per-call statistics from the transports (reference `ratelimit_server.ShouldRateLimit.*`). Implemented by
 * telemetry; transports see only this port, never a metrics library. Must not throw or block.
 */
export interface CallObserver {
  /** One ShouldRateLimit call received, whatever its outcome. */
  request(): void;
  /** One ShouldRateLimit call answered with an error. */
  callError(kind: CallErrorKind): void;
  /** One ShouldRateLimit call answered (success or error) `durationMs` after it was received. */
  responded(durationMs: number): void;
  /** The clock call durations are measured with (ms, monotonic); a constant 0 when nothing records them. */
  now(): number;
  /**
   * Starts the trace span of one ShouldRateLimit, continuing the caller's trace; undefined when tracing is off or the
   * call is not sampled (then the transport does nothing more).
   */
  traceCall(header: HeaderReader, domain: string, descriptors: number): CallSpan | undefined;
}

/** Receives counter backend statistics (Sluice's own metrics). Must not throw or block. */
export interface StoreObserver {
  /** One backend call failed (whatever BACKEND_FAILURE_POLICY then answered). */
  failed(reason: StoreFailureReason): void;
  /** A BACKEND_FAILURE_POLICY switched an endpoint to (degraded) or from (recovered) its fallback. */
  failurePolicy(endpoint: string, degraded: boolean): void;
}

/** The engine's public face, used by every transport. */
export interface RateLimiter {
  /** Rejects with InvalidRequestError, NoConfigError or StoreUnavailableError only. */
  decide(request: RateLimitRequest): Promise<Decision>;
}
