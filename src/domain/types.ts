/**
 * Domain types of Sluice's decision core. No I/O, no wire types: the transport layer maps
 * Envoy's protobuf messages to and from these.
 */

/** Time in milliseconds since the Unix epoch (from the injected Clock). */
export type Millis = number;

/** Rate-limit window units, as in envoyproxy/ratelimit's YAML (`unit:`), lower-case. */
export type Unit = "second" | "minute" | "hour" | "day" | "week" | "month" | "year";

/**
 * Window length of each unit in seconds. MONTH and YEAR are fixed lengths (30 and 365 days), not calendar
 * months, exactly as envoyproxy/ratelimit's `UnitToDivider`; windows are aligned to the Unix epoch.
 */
export const UNIT_SECONDS: Readonly<Record<Unit, number>> = Object.freeze({
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86_400,
  week: 604_800,
  month: 2_592_000,
  year: 31_536_000,
});

export const UNITS: readonly Unit[] = Object.freeze(Object.keys(UNIT_SECONDS) as Unit[]);

/** `limit_remaining` reported for `unlimited` rules (uint32 max, as the reference). */
export const UNLIMITED_REMAINING = 4_294_967_295;

/** One `key`/`value` pair of a request descriptor. `value` may be empty. */
export interface Entry {
  readonly key: string;
  readonly value: string;
}

/** A limit carried by the request itself (Envoy's `RateLimitDescriptor.limit`). */
export interface LimitOverride {
  readonly requestsPerUnit: number;
  readonly unit: Unit;
}

/** One descriptor of a request, already validated by the transport. */
export interface Descriptor {
  readonly entries: readonly Entry[];
  readonly limit: LimitOverride | undefined;
  /**
   * Hits this descriptor adds, already resolved by the transport: descriptor-level `hits_addend` when present
   * (0 = check without counting), else `max(1, request.hits_addend)`. Never negative; see `negative`.
   * Clamped to MAX_HITS.
   */
  readonly hits: number;
  /** Envoy's `is_negative_hits`: the hits are a refund (subtracted from the counter). */
  readonly negative: boolean;
  /**
   * The descriptor-level `hits_addend` exactly as sent, only when it was present on the wire (optional, additive).
   * Used solely to echo it in RESPONSE_DYNAMIC_METADATA (reference `descriptorToStruct`); decisions use `hits`.
   */
  readonly hitsAddend?: number;
}

/**
 * Upper bound on the hits one descriptor may add in one request. Any rule's `requests_per_unit` is a uint32, so a
 * larger addend is over every limit anyway; bounding it keeps counters exact in a double and far from Redis's int64
 * overflow, so a huge `hits_addend` is an answer (OVER_LIMIT), never an error.
 */
export const MAX_HITS = 2 ** 40;

/** A ShouldRateLimit request in domain terms. */
export interface RateLimitRequest {
  readonly domain: string;
  readonly descriptors: readonly Descriptor[];
  /**
   * The request-level `hits_addend` exactly as sent (0 when unset; optional, additive). Used solely to echo it in
   * RESPONSE_DYNAMIC_METADATA (reference `ratelimitToMetadata`); decisions use each descriptor's `hits`.
   */
  readonly hitsAddend?: number;
}

/**
 * Algorithms a limit may use (`rate_limit.algorithm`). `fixed_window` is the reference's and the default;
 * `token_bucket` and `leaky_bucket` are one meter (GCRA) seen from two sides; see algorithms/.
 */
export type Algorithm = "fixed_window" | "sliding_window" | "token_bucket" | "leaky_bucket";

export const ALGORITHMS: readonly Algorithm[] = Object.freeze([
  "fixed_window",
  "sliding_window",
  "token_bucket",
  "leaky_bucket",
]);

/** Where a window starts: aligned to the Unix epoch (the reference), or at the key's first hit. */
export type WindowAnchor = "epoch" | "first_hit";

/**
 * How a limit keeps its state: one module per strategy in algorithms/. Derived from the algorithm and the anchor
 * when the limit is compiled, so the hot path dispatches on one field.
 */
export type Strategy = "fixed_window" | "fixed_window_first_hit" | "sliding_window" | "gcra";

/**
 * One limit: a `rate_limit:` block, one entry of a `rate_limits:` list, or a request-carried override. Compiled
 * once and shared by every request (never allocated per request, except for overrides).
 */
export interface Limit {
  /** `requests_per_unit`: units allowed per window (a bucket's refill per window). */
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  /** `unit_multiplier`: the window is this many units (default 1). */
  readonly unitMultiplier: number;
  /** UNIT_SECONDS[unit] × unitMultiplier. */
  readonly windowSeconds: number;
  readonly algorithm: Algorithm;
  readonly strategy: Strategy;
  /** `burst`: a bucket's capacity in units (token/leaky bucket); equals requestsPerUnit for the others. */
  readonly burst: number;
  readonly windowAnchor: WindowAnchor;
  /** `budget: true`: every charge counts even past the limit (debt); hits 0 is the admission check. */
  readonly budget: boolean;
  /** `name`, used by `replaces` and echoed in `current_limit.name`. */
  readonly name: string | undefined;
  /** Names of limits this limit replaces when both match in one request. */
  readonly replaces: readonly string[];
  /**
   * Appended to the descriptor part of the store key. "" for the reference's epoch fixed window of a single
   * `rate_limit:` (byte-identical keys, window start appended); otherwise a tag naming strategy, window and name,
   * and the descriptor part is wrapped in a Redis hash tag so one descriptor's keys share a Cluster slot.
   */
  readonly keyTag: string;
}

/** A compiled descriptor rule (the node matched at the request's last entry, or a request override). */
export interface LimitRule {
  /** Stats/debug key: `domain.k1_v1.k2` (reference `Stats.Key` format, before sanitising). */
  readonly fullKey: string;
  /**
   * The limits of this descriptor (one for `rate_limit:`, several for `rate_limits:`), applied all-or-nothing.
   * Never empty; for an `unlimited` rule it holds one limit carrying only the name and replaces.
   */
  readonly limits: readonly Limit[];
  /** `unlimited: true`: always OK with UNLIMITED_REMAINING, never touches the store. */
  readonly unlimited: boolean;
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly detailedMetric: boolean;
  readonly valueToMetric: boolean;
  /** `metadata:` of the matched descriptor node, merged into dynamic metadata when it passed. */
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
  /**
   * Per request-entry level, the value written into the cache key instead of the request's value: the wildcard
   * pattern at levels matched by a `share_threshold: true` wildcard (all matching values share one counter),
   * `undefined` elsewhere. Empty array when no level shares.
   */
  readonly keyValueOverrides: readonly (string | undefined)[];
}

/** Immutable, compiled rule files. Produced by rules/compile.ts; swapped atomically on reload. */
export interface RuleSet {
  /** Monotonic or content-derived version, for logs and /rlconfig. */
  readonly version: string;
  /** Domains configured. */
  readonly domains: readonly string[];
  hasDomain(domain: string): boolean;
  /**
   * The rule applying to these entries in this domain, following the reference's walk (exact value, then wildcard
   * patterns, then value-less key; the node matched at the last entry must carry a rate limit), or undefined.
   */
  findRule(domain: string, entries: readonly Entry[]): LimitRule | undefined;
  /** Every rule as the reference's /rlconfig lines: `<fullKey>: unit=MINUTE requests_per_unit=5, shadow_mode: false`. */
  dump(): string;
}

/**
 * One limit of one descriptor of a request: what a CounterStore applies. Built by the engine; the algorithm module
 * of `limit.strategy` gives it meaning in every store.
 */
export interface CounterOp {
  /**
   * Store key. Reference epoch fixed window: byte-identical to the reference's cache key,
   * `PREFIX + domain_k1_v1_..._windowStart`. Every other strategy: `PREFIX + {domain_k1_v1_...}` + `limit.keyTag`
   * (a sliding window appends each window's start to it).
   */
  readonly key: string;
  /** Units to add (0 = check only). */
  readonly hits: number;
  /** Give `hits` back instead of taking them (refund). */
  readonly negative: boolean;
  readonly limit: Limit;
  /** Time of the decision (the injected clock), ms since the epoch: every store computes with this, never its own. */
  readonly nowMs: Millis;
  /** Start of the epoch-aligned window containing `nowMs`, in Unix seconds (fixed and sliding windows). */
  readonly windowStartSeconds: number;
  /**
   * All-or-nothing group: on the first op of a descriptor's limits, how many ops (this one included) form the
   * group (1 for a descriptor with one limit); 0 on the group's other ops. Stores keep a group together and apply
   * it atomically: every op or none.
   */
  readonly group: number;
}

/**
 * What a store reports for one CounterOp, computed by the op's algorithm. Being over the limit is data, never an
 * error. Everybody outside algorithms/ reads these fields instead of comparing counts.
 */
export interface Outcome {
  /** The op's hits pass this limit (for a check, hits 0: the request would pass). */
  readonly admitted: boolean;
  /** Whole units that would pass now, after this op. */
  readonly remaining: number;
  /** When not admitted: ms until this op's cost could pass (0 when admitted). */
  readonly retryAfterMs: number;
  /** ms until the limit is fully reset (nothing used). */
  readonly resetAfterMs: number;
  /** Units this op took (0 when it was not applied; a refund reports 0). */
  readonly consumed: number;
  /**
   * Units in use after the op on the limit's own scale (a fixed window: its counter, which may exceed the limit).
   * Read only by the near/over-limit stats split.
   */
  readonly used: number;
  /** Answered from the local over-limit cache without touching the backing store. */
  readonly fromLocalCache: boolean;
}

export type Code = "OK" | "OVER_LIMIT";

/** The limit reported back in `current_limit` (the protocol has no field for a multiplier or a burst). */
export interface CurrentLimit {
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  readonly name: string | undefined;
}

/** One DescriptorStatus, in domain terms. */
export interface DescriptorStatus {
  readonly code: Code;
  readonly currentLimit: CurrentLimit | undefined;
  readonly limitRemaining: number;
  /**
   * OVER_LIMIT: whole seconds until the request could pass (at least 1). OK: whole seconds until the limit is fully
   * reset. Undefined when no limit applied.
   */
  readonly durationUntilResetSeconds: number | undefined;
}

export interface Header {
  readonly key: string;
  readonly value: string;
}

/** The answer to a RateLimitRequest. */
export interface Decision {
  readonly overallCode: Code;
  /** One per request descriptor, in order. */
  readonly statuses: readonly DescriptorStatus[];
  readonly responseHeaders: readonly Header[];
  /** RESPONSE_DYNAMIC_METADATA / rule `metadata`; undefined when there is none. */
  readonly dynamicMetadata: Readonly<Record<string, unknown>> | undefined;
  /** How long the counter store took for this decision, in ms (0 when no store call was needed); for tracing. */
  readonly storeMs: number;
}
