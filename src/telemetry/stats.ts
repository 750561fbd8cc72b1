/**
 * In-process counters with envoyproxy/ratelimit's stat names (src/stats/manager_impl.go), shown on the debug port's
 * /stats. Implements the engine's DecisionObserver port. Cardinality is bounded: rule keys come from the rule files,
 * but request overrides and unknown domains carry request values (reference issue #275), so after `maxKeys`
 * distinct stat prefixes further ones are folded into one `__other__` prefix instead of growing without bound.
 *
 * Hot path: the observer runs for every descriptor of every request, so it builds no strings there. Each stat prefix
 * owns one Float64Array (one slot per stat), and a rule from the rule set finds its array through a WeakMap keyed by
 * the rule object: one lookup and six additions per descriptor. Names are built only in `snapshot()`. A reload
 * brings new rule objects, which find the same prefix (and so keep counting into the same stats) on first use; the
 * old ones leave the WeakMap with their rule set. Outcomes that carry a `metricKey` (detailed_metric and
 * value_to_metric keys, and request overrides, whose rule object lives for one request) take the bounded string
 * path instead, so per-request objects never enter the WeakMap. Those request-valued keys are also capped per rule
 * (`maxValuesPerRule`): one rule seeing 1,000,000 client IPs keeps its first keys and counts the rest under
 * `<rule key>.__other__`, so neither memory nor a Prometheus scrape grows with the traffic.
 *
 * Control characters (and the statsd separators `:` and `|`) in stat names become `_`, so request values can never
 * break a statsd line or reach a Prometheus label raw.
 */
import type { CallErrorKind, DecisionObserver, DescriptorOutcome } from "../domain/ports.js";
import type { Algorithm, LimitRule } from "../domain/types.js";

export type { CallErrorKind } from "../domain/ports.js";

/** The counters of one stat prefix, with what Sluice's own metrics need to label them. */
export interface PrefixStats {
  readonly domain: string;
  /** Of the first rule counted under this prefix; undefined for a domain's `domain_not_found` prefix. */
  readonly algorithm: Algorithm | undefined;
  /** Slots in PREFIX_STATS order, then DECISIONS_OK and DECISIONS_OVER_LIMIT (descriptors, not hits). */
  readonly counters: Float64Array;
}

export interface Stats extends DecisionObserver {
  /** One ShouldRateLimit call answered with an error (`call.should_rate_limit.<kind>`). */
  callError(kind: CallErrorKind): void;
  /** One ShouldRateLimit call received (`ratelimit_server.ShouldRateLimit.total_requests`), whatever its outcome. */
  request(): void;
  /** Every stat prefix (for Sluice's own per-domain metrics). */
  prefixes(): Iterable<PrefixStats>;
  /** Registers a value read at snapshot time (e.g. the watcher's config_load_success). */
  addGauge(name: string, read: () => number): void;
  /** Every stat, sorted by name. */
  snapshot(): ReadonlyArray<readonly [name: string, value: number]>;
}

export interface StatsOptions {
  /** Distinct per-rule/per-domain stat prefixes kept before folding into `__other__`. Default 10,000. */
  readonly maxKeys?: number;
  /** Distinct request-valued stat keys kept per rule before folding into `<rule key>.__other__`. Default 1,000. */
  readonly maxValuesPerRule?: number;
}

const RATE_LIMIT = "ratelimit.service.rate_limit";
const OTHER = "__other__";
/** Stat names under a prefix, in slot order of the prefix's Float64Array. */
const PREFIX_STATS = [
  "total_hits",
  "over_limit",
  "near_limit",
  "within_limit",
  "over_limit_with_local_cache",
  "shadow_mode",
  "domain_not_found",
] as const;
const DOMAIN_NOT_FOUND = 6;
/** Sluice-only slots after the reference's: descriptors answered OK / OVER_LIMIT (not shown on /stats). */
export const DECISIONS_OK = PREFIX_STATS.length;
export const DECISIONS_OVER_LIMIT = PREFIX_STATS.length + 1;
const SLOTS = PREFIX_STATS.length + 2;

const SERVICE_STATS = [
  "ratelimit.service.global_shadow_mode",
  "ratelimit.service.call.should_rate_limit.redis_error",
  "ratelimit.service.call.should_rate_limit.service_error",
  "ratelimit_server.ShouldRateLimit.total_requests",
] as const;
const GLOBAL_SHADOW_MODE = 0;
const TOTAL_REQUESTS = 3;
const CALL_ERROR_SLOT: Readonly<Record<CallErrorKind, number>> = { redis_error: 1, service_error: 2 };

/** Creates the stats store. Never throws from the observer methods (they sit on the hot path). */
export function createStats(options: StatsOptions = {}): Stats {
  const maxKeys = options.maxKeys ?? 10_000;
  const maxValuesPerRule = options.maxValuesPerRule ?? 1_000;
  /** Stat prefix (`ratelimit.service.rate_limit.<key>`) → its counters; at most maxKeys + 1 entries. */
  const prefixes = new Map<string, PrefixStats>();
  /** Rule-set rules → the counters of their prefix (the same arrays as in `prefixes`). */
  const byRule = new WeakMap<LimitRule, Float64Array>();
  /** Rule key → how many request-valued prefixes it has; at most maxKeys entries. */
  const valuesPerRule = new Map<string, number>();
  const service = new Float64Array(SERVICE_STATS.length);
  const gauges = new Map<string, () => number>();

  /** The counters of a stats key: its own while there is room, else the shared overflow prefix's. */
  const countersOf = (key: string, domain: string, algorithm: Algorithm | undefined): Float64Array => {
    const prefix = `${RATE_LIMIT}.${sanitize(key)}`;
    const known = prefixes.get(prefix);
    if (known !== undefined) return known.counters;
    const name = prefixes.size >= maxKeys ? `${RATE_LIMIT}.${OTHER}` : prefix;
    return entry(name, domain, algorithm);
  };
  const entry = (name: string, domain: string, algorithm: Algorithm | undefined): Float64Array => {
    let found = prefixes.get(name);
    if (found === undefined) {
      found = { domain: sanitize(domain), algorithm, counters: new Float64Array(SLOTS) };
      prefixes.set(name, found);
    }
    return found.counters;
  };
  /** Rule key → its overflow counters, once the rule reached maxValuesPerRule. */
  const overflowOf = new Map<string, Float64Array>();
  /** A request-valued key: its own prefix while its rule has fewer than maxValuesPerRule, else the rule's overflow. */
  const valuedCountersOf = (o: DescriptorOutcome, metricKey: string): Float64Array => {
    const known = prefixes.get(`${RATE_LIMIT}.${sanitize(metricKey)}`);
    if (known !== undefined) return known.counters;
    const ruleKey = o.rule.fullKey;
    const seen = valuesPerRule.get(ruleKey) ?? 0;
    if (seen >= maxValuesPerRule) {
      let overflow = overflowOf.get(ruleKey);
      if (overflow === undefined) {
        overflow = countersOf(`${ruleKey}.${OTHER}`, o.domain, o.limit.algorithm);
        overflowOf.set(ruleKey, overflow);
      }
      return overflow;
    }
    if (valuesPerRule.size < maxKeys || seen > 0) valuesPerRule.set(ruleKey, seen + 1);
    return countersOf(metricKey, o.domain, o.limit.algorithm);
  };

  return {
    descriptorDecided(o: DescriptorOutcome): void {
      let c: Float64Array | undefined;
      if (o.metricKey !== undefined) {
        c = valuedCountersOf(o, o.metricKey);
      } else {
        c = byRule.get(o.rule);
        if (c === undefined) {
          c = countersOf(o.rule.fullKey, o.domain, o.limit.algorithm);
          byRule.set(o.rule, c);
        }
      }
      c[0] = (c[0] as number) + o.hits;
      c[1] = (c[1] as number) + o.overLimitHits;
      c[2] = (c[2] as number) + o.nearLimitHits;
      c[3] = (c[3] as number) + o.withinLimitHits;
      if (o.overLimitWithLocalCache) c[4] = (c[4] as number) + o.hits;
      // The reference's increaseShadowModeStats counts the over-limit part of the hits, not all of them.
      if (o.shadowMode) c[5] = (c[5] as number) + o.overLimitHits;
      const over = (o.overLimitHits > 0 || o.overLimitWithLocalCache) && !o.rule.shadowMode;
      const slot = over ? DECISIONS_OVER_LIMIT : DECISIONS_OK;
      c[slot] = (c[slot] as number) + 1;
    },
    domainNotFound(domain: string): void {
      (countersOf(domain, domain, undefined)[DOMAIN_NOT_FOUND] as number)++;
    },
    globalShadowMode(): void {
      (service[GLOBAL_SHADOW_MODE] as number)++;
    },
    storeApplied(): void {},
    now: () => 0,
    callError(kind: CallErrorKind): void {
      (service[CALL_ERROR_SLOT[kind]] as number)++;
    },
    request(): void {
      (service[TOTAL_REQUESTS] as number)++;
    },
    prefixes: () => prefixes.values(),
    addGauge(name: string, read: () => number): void {
      gauges.set(name, read);
    },
    snapshot() {
      const all = new Map<string, number>();
      for (const [prefix, { counters }] of prefixes) {
        for (let i = 0; i < PREFIX_STATS.length; i++) {
          const value = counters[i] as number;
          if (value !== 0) all.set(`${prefix}.${PREFIX_STATS[i]}`, value);
        }
      }
      for (let i = 0; i < SERVICE_STATS.length; i++) {
        const value = service[i] as number;
        if (value !== 0) all.set(SERVICE_STATS[i] as string, value);
      }
      for (const [name, read] of gauges) all.set(name, read());
      return [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}

/** The reference's SanitizeStatName (`:` and `|` would break statsd lines), plus control characters. */
export function sanitize(name: string): string {
  return UNSAFE.test(name) ? name.replace(UNSAFE_ALL, "_") : name;
}
const UNSAFE = /[:|\p{Cc}]/u;
const UNSAFE_ALL = /[:|\p{Cc}]/gu;

/** Renders a snapshot as the reference's /stats text: one `name: value` line per stat. */
export function formatStats(snapshot: ReadonlyArray<readonly [string, number]>): string {
  return snapshot.map(([name, value]) => `${name}: ${value}\n`).join("");
}
