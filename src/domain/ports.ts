/** Ports of the decision core: what the engine needs from the outside world. Interfaces only. */
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
}

/** The engine's public face, used by every transport. */
export interface RateLimiter {
  /** Rejects with InvalidRequestError, NoConfigError or StoreUnavailableError only. */
  decide(request: RateLimitRequest): Promise<Decision>;
}
