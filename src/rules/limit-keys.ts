/**
 * Sluice's own `rate_limit` keys (beyond envoyproxy/ratelimit's `unit`, `requests_per_unit`, `unlimited`, `name`,
 * `replaces`), each declared once: its YAML name, how it is read, its default, how it is checked and how /rlconfig
 * shows it. schema.ts reads them, compile.ts builds Limits with `buildLimit`, dump.ts renders them, and the engine's
 * request overrides take the defaults, so a new key is one entry here plus its tests.
 */
import type { Node } from "yaml";
import { ConfigError } from "../domain/errors.js";
import { ALGORITHMS, type Algorithm, type Limit, type Strategy, UNIT_SECONDS, type Unit } from "../domain/types.js";
import { readBool, readString, readUint32, type YamlContext } from "./yaml-walk.js";

/** The values of the extension keys of one limit. */
export interface LimitExtensions {
  readonly algorithm: Algorithm;
  readonly burst: number | undefined;
  readonly unitMultiplier: number;
  readonly windowAnchor: "epoch" | "first_hit";
  readonly budget: boolean;
}

const DEFAULTS: LimitExtensions = Object.freeze({
  algorithm: "fixed_window",
  burst: undefined,
  unitMultiplier: 1,
  windowAnchor: "epoch",
  budget: false,
});

/** A value as read, with the YAML path it came from (for errors). */
export interface RawExtension {
  readonly value: unknown;
  readonly path: string;
}

interface KeySpec {
  readonly yaml: string;
  readonly field: keyof LimitExtensions;
  /** Reads a present value; fails with the path on a wrong type. */
  read(ctx: YamlContext, node: Node, path: string): unknown;
  /** Checks a read value; returns the problem, if any. */
  check(value: unknown): string | undefined;
  /** `/rlconfig` text when the limit's value differs from the default. */
  render(limit: Limit): string | undefined;
}

function positive(value: unknown): string | undefined {
  return (value as number) >= 1 ? undefined : "must be at least 1";
}

const KEYS: readonly KeySpec[] = [
  {
    yaml: "algorithm",
    field: "algorithm",
    read: readString,
    check: (v) =>
      (ALGORITHMS as readonly unknown[]).includes(v)
        ? undefined
        : `"${String(v)}" is not one of ${ALGORITHMS.join("|")}`,
    render: (l) => (l.algorithm === "fixed_window" ? undefined : `algorithm=${l.algorithm}`),
  },
  {
    yaml: "burst",
    field: "burst",
    read: readUint32,
    check: positive,
    render: (l) => (l.strategy === "gcra" ? `burst=${l.burst}` : undefined),
  },
  {
    yaml: "unit_multiplier",
    field: "unitMultiplier",
    read: readUint32,
    check: positive,
    render: (l) => (l.unitMultiplier === 1 ? undefined : `unit_multiplier=${l.unitMultiplier}`),
  },
  {
    yaml: "window_anchor",
    field: "windowAnchor",
    read: readString,
    check: (v) => (v === "epoch" || v === "first_hit" ? undefined : `"${String(v)}" is not one of epoch|first_hit`),
    render: (l) => (l.windowAnchor === "epoch" ? undefined : `window_anchor=${l.windowAnchor}`),
  },
  {
    yaml: "budget",
    field: "budget",
    read: readBool,
    check: () => undefined,
    render: (l) => (l.budget ? "budget=true" : undefined),
  },
];

/** The YAML names of the extension keys, for the schema's list of valid `rate_limit` keys. */
export const EXTENSION_KEYS: readonly string[] = Object.freeze(KEYS.map((k) => k.yaml));

/** Reads the extension keys present in a `rate_limit` mapping (`fields` maps YAML key → node). */
export function readExtensions(
  ctx: YamlContext,
  fields: ReadonlyMap<string, Node | null>,
  path: string,
): ReadonlyMap<string, RawExtension> {
  const out = new Map<string, RawExtension>();
  for (const spec of KEYS) {
    const node = fields.get(spec.yaml);
    if (node === undefined || node === null) continue;
    const at = `${path}.${spec.yaml}`;
    out.set(spec.yaml, { value: spec.read(ctx, node, at), path: at });
  }
  return out;
}

/** The base fields of a limit (the reference's keys), already checked by compile.ts. */
export interface BaseLimit {
  readonly requestsPerUnit: number;
  readonly unit: Unit;
  readonly name: string | undefined;
  readonly replaces: readonly string[];
  /** The limit's YAML path, for errors on combinations. */
  readonly path: string;
}

/**
 * A Limit from its base fields and extension keys, rejecting values and combinations that cannot work (each error
 * names the file and YAML path). `inList` is true for an entry of `rate_limits:`, whose keys are always tagged.
 */
export function buildLimit(
  file: string,
  base: BaseLimit,
  raw: ReadonlyMap<string, RawExtension>,
  inList: boolean,
): Limit {
  const ext: Record<string, unknown> = { ...DEFAULTS };
  for (const spec of KEYS) {
    const r = raw.get(spec.yaml);
    if (r === undefined) continue;
    const problem = spec.check(r.value);
    if (problem !== undefined) throw new ConfigError(file, r.path, problem);
    ext[spec.field] = r.value;
  }
  const e = ext as unknown as LimitExtensions;
  const bucket = e.algorithm === "token_bucket" || e.algorithm === "leaky_bucket";
  const at = (key: string): string => raw.get(key)?.path ?? `${base.path}.${key}`;
  if (e.burst !== undefined && !bucket) {
    throw new ConfigError(file, at("burst"), `burst applies only to token_bucket and leaky_bucket, not ${e.algorithm}`);
  }
  if (e.windowAnchor === "first_hit" && e.algorithm !== "fixed_window") {
    throw new ConfigError(file, at("window_anchor"), `first_hit applies only to fixed_window, not ${e.algorithm}`);
  }
  if (e.algorithm !== "fixed_window" && base.requestsPerUnit < 1) {
    throw new ConfigError(file, `${base.path}.requests_per_unit`, `${e.algorithm} needs requests_per_unit >= 1`);
  }
  const windowSeconds = UNIT_SECONDS[base.unit] * e.unitMultiplier;
  const burst = e.burst ?? base.requestsPerUnit;
  // Buckets and sliding windows compute in integers scaled by the window's ms; they must stay exact in a double.
  if (e.algorithm !== "fixed_window" && Math.max(burst, base.requestsPerUnit) * windowSeconds * 1000 > 2 ** 53) {
    throw new ConfigError(file, base.path, "limit × window is too large to count exactly (keep it below 2^53 ms)");
  }
  const strategy = strategyOf(e);
  const keyTag = !inList && strategy === "fixed_window" ? "" : tagOf(strategy, windowSeconds, base.name);
  return Object.freeze({
    requestsPerUnit: base.requestsPerUnit,
    unit: base.unit,
    unitMultiplier: e.unitMultiplier,
    windowSeconds,
    algorithm: e.algorithm,
    strategy,
    burst,
    windowAnchor: e.windowAnchor,
    budget: e.budget,
    name: base.name,
    replaces: base.replaces,
    keyTag,
  });
}

function strategyOf(e: LimitExtensions): Strategy {
  if (e.algorithm === "token_bucket" || e.algorithm === "leaky_bucket") return "gcra";
  if (e.algorithm === "sliding_window") return "sliding_window";
  return e.windowAnchor === "first_hit" ? "fixed_window_first_hit" : "fixed_window";
}

const STRATEGY_TAGS: { readonly [S in Strategy]: string } = {
  fixed_window: "fw",
  fixed_window_first_hit: "fh",
  sliding_window: "sw",
  gcra: "tb",
};

/** `tb60`, `fw3600_daily`: strategy, window seconds and name; unique within one descriptor's limits. */
function tagOf(strategy: Strategy, windowSeconds: number, name: string | undefined): string {
  const tag = `${STRATEGY_TAGS[strategy]}${windowSeconds}`;
  return name === undefined ? tag : `${tag}_${name}`;
}

/** The limit of a request-carried override (`RateLimitDescriptor.limit`): the reference's fixed window. */
export function overrideLimit(requestsPerUnit: number, unit: Unit): Limit {
  return {
    requestsPerUnit,
    unit,
    unitMultiplier: 1,
    windowSeconds: UNIT_SECONDS[unit],
    algorithm: "fixed_window",
    strategy: "fixed_window",
    burst: requestsPerUnit,
    windowAnchor: "epoch",
    budget: false,
    name: undefined,
    replaces: NO_NAMES,
    keyTag: "",
  };
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** The extension keys of a limit as /rlconfig text (` algorithm=token_bucket burst=5`), "" for a reference limit. */
export function renderExtensions(limit: Limit): string {
  let out = "";
  for (const spec of KEYS) {
    const text = spec.render(limit);
    if (text !== undefined) out += ` ${text}`;
  }
  return out;
}
