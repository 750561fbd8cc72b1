/**
 * statsd_exporter mapping files (PROMETHEUS_MAPPER_YAML), the format the reference embeds (src/stats/prom/
 * default_mapper.yaml) and Envoy Gateway mounts: `mappings:` of `match` (glob, or regex with `match_type: regex`),
 * `name` and `labels` (`$1`, `${1}` name the captures), optional `match_metric_type`, `action: drop`, `help` and
 * `timer_type: histogram`. First match wins. Anything else (summaries, buckets, ttl, defaults...) is refused with the
 * file and line, because silently exporting different metrics than the file asks for would break dashboards.
 * Unmapped stats are exported as statsd_exporter does: the name with every character outside [a-zA-Z0-9_] as `_`.
 */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type YAMLMap } from "yaml";
import { ConfigError } from "../domain/errors.js";
import { DEFAULT_MAPPING_YAML } from "./default-mapping.js";

/** What kind of stat a name is, as statsd_exporter's `match_metric_type`. */
export type StatKind = "counter" | "gauge" | "observer";

export interface MappedMetric {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly help: string | undefined;
}

export interface StatsdMapper {
  /** The Prometheus name and labels of a stat; null when a mapping drops it. */
  map(stat: string, kind: StatKind): MappedMetric | null;
}

interface Mapping {
  readonly pattern: RegExp;
  readonly name: string;
  readonly labels: readonly (readonly [string, string])[];
  readonly kind: StatKind | undefined;
  readonly drop: boolean;
  readonly help: string | undefined;
}

const KEYS = new Set(["match", "name", "labels", "match_type", "match_metric_type", "action", "help", "timer_type"]);
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses a mapping file; throws ConfigError naming the file, the YAML path and the line of the first problem. */
export function parseStatsdMapper(text: string, file: string): StatsdMapper {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const fail = (path: string, node: unknown, detail: string): never => {
    const offset = (node as { range?: [number] } | undefined)?.range?.[0] ?? 0;
    throw new ConfigError(file, path, `line ${lines.linePos(offset).line}: ${detail}`);
  };
  if (doc.errors.length > 0) fail("", undefined, doc.errors[0]?.message ?? "invalid YAML");
  const root = doc.contents;
  if (!isMap(root)) return fail("", root, "expected a map with `mappings:`");
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (key !== "mappings") fail(key, pair.key, `"${key}" is not supported by Sluice (only mappings:)`);
  }
  const seq = root.get("mappings", true);
  if (!isSeq(seq)) return fail("mappings", seq ?? root, "mappings must be a list");
  const mappings = seq.items.map((item, i) => {
    const path = `mappings[${i}]`;
    if (!isMap(item)) return fail(path, item, "expected a map");
    return parseMapping(item, path, fail);
  });
  return createMapper(mappings);
}

type Fail = (path: string, node: unknown, detail: string) => never;

function parseMapping(item: YAMLMap, path: string, fail: Fail): Mapping {
  const str = (key: string): string | undefined => {
    const node = item.get(key, true);
    if (node === undefined) return undefined;
    if (!isScalar(node) || typeof node.value !== "string") return fail(`${path}.${key}`, node, "must be a string");
    return node.value;
  };
  for (const pair of item.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!KEYS.has(key)) fail(`${path}.${key}`, pair.key, `"${key}" is not supported by Sluice`);
  }
  const match = str("match") ?? fail(`${path}.match`, item, "match is required");
  const matchType = str("match_type") ?? "glob";
  if (matchType !== "glob" && matchType !== "regex") {
    fail(`${path}.match_type`, item.get("match_type", true), `"${matchType}" is not glob or regex`);
  }
  const action = str("action") ?? "map";
  if (action !== "map" && action !== "drop") fail(`${path}.action`, item.get("action", true), "must be map or drop");
  const timerType = str("timer_type");
  if (timerType !== undefined && timerType !== "histogram") {
    fail(`${path}.timer_type`, item.get("timer_type", true), `"${timerType}" is not supported (only histogram)`);
  }
  const kind = str("match_metric_type");
  if (kind !== undefined && kind !== "counter" && kind !== "gauge" && kind !== "observer") {
    fail(`${path}.match_metric_type`, item.get("match_metric_type", true), "must be counter, gauge or observer");
  }
  const name = str("name") ?? (action === "drop" ? "" : fail(`${path}.name`, item, "name is required"));
  if (action === "map" && !METRIC_NAME.test(name.replace(/\$\{?\d+\}?/g, "x"))) {
    fail(`${path}.name`, item.get("name", true), `"${name}" is not a Prometheus metric name`);
  }
  return {
    pattern: compilePattern(match, matchType === "regex", (detail) =>
      fail(`${path}.match`, item.get("match", true), detail),
    ),
    name,
    labels: parseLabels(item, path, fail),
    kind: kind as StatKind | undefined,
    drop: action === "drop",
    help: str("help"),
  };
}

function parseLabels(item: YAMLMap, path: string, fail: Fail): (readonly [string, string])[] {
  const node = item.get("labels", true);
  if (node === undefined) return [];
  if (!isMap(node)) return fail(`${path}.labels`, node, "labels must be a map");
  return node.items.map((pair) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!LABEL_NAME.test(key)) fail(`${path}.labels.${key}`, pair.key, `"${key}" is not a label name`);
    if (!isScalar(pair.value)) return fail(`${path}.labels.${key}`, pair.value, "must be a string");
    return [key, String(pair.value.value)] as const;
  });
}

/** statsd_exporter's glob: `*` matches within one dot-separated component; everything else is literal. */
function compilePattern(match: string, regex: boolean, fail: (detail: string) => never): RegExp {
  if (!regex) {
    const body = match
      .split("*")
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("([^.]*)");
    return new RegExp(`^${body}$`);
  }
  try {
    return new RegExp(`^(?:${match})$`);
  } catch (err) {
    return fail(`invalid regex: ${(err as Error).message}`);
  }
}

function createMapper(mappings: readonly Mapping[]): StatsdMapper {
  return {
    map(stat: string, kind: StatKind): MappedMetric | null {
      for (const m of mappings) {
        if (m.kind !== undefined && m.kind !== kind) continue;
        const found = m.pattern.exec(stat);
        if (found === null) continue;
        if (m.drop) return null;
        const expand = (template: string): string =>
          template.replace(/\$\{?(\d+)\}?/g, (_, n: string) => found[Number(n)] ?? "");
        const labels: Record<string, string> = {};
        for (const [label, template] of m.labels) labels[label] = expand(template);
        return { name: escapeMetricName(expand(m.name)), labels, help: m.help };
      }
      return { name: escapeMetricName(stat), labels: {}, help: undefined };
    },
  };
}

/** statsd_exporter's escapeMetricName: invalid characters become `_`, a leading digit gets a `_` prefix. */
export function escapeMetricName(name: string): string {
  const escaped = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[0-9]/.test(escaped) ? `_${escaped}` : escaped;
}

/** The mapping Sluice exports with: PROMETHEUS_MAPPER_YAML's, else the default. Throws ConfigError on a bad file. */
export function loadStatsdMapper(file: string | undefined): StatsdMapper {
  if (file === undefined) return parseStatsdMapper(DEFAULT_MAPPING_YAML, "default mapping");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, "", `cannot read PROMETHEUS_MAPPER_YAML (${(err as Error).message})`);
  }
  return parseStatsdMapper(text, file);
}
