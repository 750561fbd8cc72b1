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

/** Algorithms a rule may use. Only the reference's epoch-aligned fixed window exists today. */
export type Algorithm = "fixed_window";

/** A compiled rate limit (one `rate_limit:` block of the YAML, or a request override). */
export interface LimitRule {
  /** Stats/debug key: `domain.k1_v1.k2` (reference `Stats.Key` format, before sanitising). */
  readonly fullKey: string;
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  /** `unlimited: true`: always OK with UNLIMITED_REMAINING, never touches the store. */
  readonly unlimited: boolean;
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  /** `rate_limit.name`, used by `replaces` and echoed in `current_limit.name`. */
  readonly name: string | undefined;
  /** Names of rules this rule replaces when both match in one request. */
  readonly replaces: readonly string[];
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
  readonly algorithm: Algorithm;
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

/** One counter operation of a request, for one descriptor. Built by the engine, applied by a CounterStore. */
export interface CounterOp {
  /** Store key, byte-identical to the reference's cache key: `PREFIX + domain_k1_v1_..._windowStart`. */
  readonly key: string;
  /** Hits to add (0 = read only). */
  readonly hits: number;
  /** Subtract `hits` instead of adding (refund). */
  readonly negative: boolean;
  readonly limit: number;
  readonly unit: Unit;
  readonly windowSeconds: number;
  /** Window start, seconds since the epoch (already in `key`). */
  readonly windowStartSeconds: number;
  /** End of the window in ms since the epoch; the store may drop the key from then on. */
  readonly expiresAtMs: Millis;
  readonly algorithm: Algorithm;
}

/** What a store reports for one CounterOp. Being over the limit is data, never an error. */
export interface Verdict {
  /** Counter value after this op (before + hits, or before when the op was not counted). */
  readonly after: number;
  /** Counter value before this op. */
  readonly before: number;
  /** Answered from the local over-limit cache without touching the backing store. */
  readonly fromLocalCache: boolean;
}

export type Code = "OK" | "OVER_LIMIT";

/** The limit reported back in `current_limit`. */
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
  /** Whole seconds until the window resets; undefined when no limit applied. */
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
}
