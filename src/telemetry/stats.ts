/**
 * In-process counters with envoyproxy/ratelimit's stat names (src/stats/manager_impl.go), shown on the debug port's
 * /stats. Implements the engine's DecisionObserver port. Cardinality is bounded: rule keys come from the rule files,
 * but request overrides and unknown domains carry request values (reference issue #275), so after `maxKeys`
 * distinct stat prefixes further ones are folded into one `__other__` prefix instead of growing without bound.
 */
import type { DecisionObserver, DescriptorOutcome } from "../domain/ports.js";

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
const DESCRIPTOR_STATS = [
  "total_hits",
  "over_limit",
  "near_limit",
  "within_limit",
  "over_limit_with_local_cache",
  "shadow_mode",
] as const;
type DescriptorStat = (typeof DESCRIPTOR_STATS)[number];

/** Creates the stats store. Never throws from the observer methods (they sit on the hot path). */
export function createStats(options: StatsOptions = {}): Stats {
  const maxKeys = options.maxKeys ?? 10_000;
  const counters = new Map<string, number>();
  const prefixes = new Set<string>();
  const gauges = new Map<string, () => number>();

  const add = (name: string, n: number): void => {
    if (n !== 0) counters.set(name, (counters.get(name) ?? 0) + n);
  };
  /** Returns `prefix` if it is already known or there is room, else the shared overflow prefix. */
  const bounded = (prefix: string): string => {
    if (prefixes.has(prefix)) return prefix;
    if (prefixes.size >= maxKeys) return `${RATE_LIMIT}.${OTHER}`;
    prefixes.add(prefix);
    return prefix;
  };

  return {
    descriptorDecided(o: DescriptorOutcome): void {
      const prefix = bounded(`${RATE_LIMIT}.${sanitize(o.metricKey ?? o.rule.fullKey)}`);
      const values: Record<DescriptorStat, number> = {
        total_hits: o.hits,
        over_limit: o.overLimitHits,
        near_limit: o.nearLimitHits,
        within_limit: o.withinLimitHits,
        over_limit_with_local_cache: o.overLimitWithLocalCache ? o.hits : 0,
        // The reference's increaseShadowModeStats counts the over-limit part of the hits, not all of them.
        shadow_mode: o.shadowMode ? o.overLimitHits : 0,
      };
      for (const stat of DESCRIPTOR_STATS) add(`${prefix}.${stat}`, values[stat]);
    },
    domainNotFound(domain: string): void {
      add(`${bounded(`${RATE_LIMIT}.${sanitize(domain)}`)}.domain_not_found`, 1);
    },
    globalShadowMode(): void {
      add("ratelimit.service.global_shadow_mode", 1);
    },
    callError(kind: CallErrorKind): void {
      add(`ratelimit.service.call.should_rate_limit.${kind}`, 1);
    },
    request(): void {
      add("ratelimit_server.ShouldRateLimit.total_requests", 1);
    },
    addGauge(name: string, read: () => number): void {
      gauges.set(name, read);
    },
    snapshot() {
      const all = new Map(counters);
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
