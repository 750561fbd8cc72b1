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
 * path instead, so per-request objects never enter the WeakMap.
 */
import type { DecisionObserver, DescriptorOutcome } from "../domain/ports.js";
import type { LimitRule } from "../domain/types.js";

/** Reference `ratelimit.service.call.should_rate_limit.*` error stats. */
export type CallErrorKind = "redis_error" | "service_error";

export interface Stats extends DecisionObserver {
  /** One ShouldRateLimit call answered with an error (`call.should_rate_limit.<kind>`). */
  callError(kind: CallErrorKind): void;
  /** One ShouldRateLimit call received (`ratelimit_server.ShouldRateLimit.total_requests`), whatever its outcome. */
  request(): void;
  /** Registers a value read at snapshot time (e.g. the watcher's config_load_success). */
  addGauge(name: string, read: () => number): void;
  /** Every stat, sorted by name. */
  snapshot(): ReadonlyArray<readonly [name: string, value: number]>;
}

export interface StatsOptions {
  /** Distinct per-rule/per-domain stat prefixes kept before folding into `__other__`. Default 10,000. */
  readonly maxKeys?: number;
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
  /** Stat prefix (`ratelimit.service.rate_limit.<key>`) → its counters; at most maxKeys + 1 entries. */
  const prefixes = new Map<string, Float64Array>();
  /** Rule-set rules → the counters of their prefix (the same arrays as in `prefixes`). */
  const byRule = new WeakMap<LimitRule, Float64Array>();
  const service = new Float64Array(SERVICE_STATS.length);
  const gauges = new Map<string, () => number>();

  /** The counters of a stats key: its own while there is room, else the shared overflow prefix's. */
  const countersOf = (key: string): Float64Array => {
    const prefix = `${RATE_LIMIT}.${sanitize(key)}`;
    let counters = prefixes.get(prefix);
    if (counters !== undefined) return counters;
    const overflow = prefixes.size >= maxKeys;
    const name = overflow ? `${RATE_LIMIT}.${OTHER}` : prefix;
    counters = prefixes.get(name);
    if (counters === undefined) {
      counters = new Float64Array(PREFIX_STATS.length);
      prefixes.set(name, counters);
    }
    return counters;
  };

  return {
    descriptorDecided(o: DescriptorOutcome): void {
      let c: Float64Array | undefined;
      if (o.metricKey !== undefined) {
        c = countersOf(o.metricKey);
      } else {
        c = byRule.get(o.rule);
        if (c === undefined) {
          c = countersOf(o.rule.fullKey);
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
    },
    domainNotFound(domain: string): void {
      (countersOf(domain)[DOMAIN_NOT_FOUND] as number)++;
    },
    globalShadowMode(): void {
      (service[GLOBAL_SHADOW_MODE] as number)++;
    },
    callError(kind: CallErrorKind): void {
      (service[CALL_ERROR_SLOT[kind]] as number)++;
    },
    request(): void {
      (service[TOTAL_REQUESTS] as number)++;
    },
    addGauge(name: string, read: () => number): void {
      gauges.set(name, read);
    },
    snapshot() {
      const all = new Map<string, number>();
      for (const [prefix, counters] of prefixes) {
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

/** The reference's SanitizeStatName: `:` and `|` would break statsd lines. */
function sanitize(name: string): string {
  return name.replace(/[:|]/g, "_");
}

/** Renders a snapshot as the reference's /stats text: one `name: value` line per stat. */
export function formatStats(snapshot: ReadonlyArray<readonly [string, number]>): string {
  return snapshot.map(([name, value]) => `${name}: ${value}\n`).join("");
}
