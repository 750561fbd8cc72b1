/**
 * Reading the YAML syntax tree of one rule file with the reference's value rules. envoyproxy/ratelimit decodes with
 * go-yaml v2 (YAML 1.1): `yes`/`on` are booleans, `010` is octal, an integer or boolean given where a string is
 * expected is read as its source text (`value: 10` is the string "10"), and a float anywhere is rejected
 * (`validateYamlKeys`: "error checking config"). Every failure is a ConfigError naming the file and the YAML path.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { ConfigError } from "../domain/errors.js";

/**
 * Every key the reference accepts anywhere in a rule file (its `validKeys`). Anything else is rejected, except the
 * extension keys the schema adds to its context's `validKeys` (Sluice's own, documented keys).
 */
export const VALID_KEYS: ReadonlySet<string> = new Set([
  "domain",
  "key",
  "value",
  "descriptors",
  "rate_limit",
  "unit",
  "requests_per_unit",
  "unlimited",
  "shadow_mode",
  "quota_mode",
  "name",
  "replaces",
  "detailed_metric",
  "value_to_metric",
  "share_threshold",
  "metadata",
]);

/** Bounds alias expansions in one file (a "billion laughs" file must fail fast, not hang or exhaust memory). */
const MAX_ALIAS_EXPANSIONS = 10_000;

/** Walk state for one file. */
export interface YamlContext {
  readonly file: string;
  /** Keys accepted anywhere in the file: VALID_KEYS plus Sluice's extension keys. */
  readonly validKeys: ReadonlySet<string>;
  /** The `yaml` document, for aliases; undefined when plain-yaml.ts read the file (it has none). */
  doc: Document | undefined;
  aliases: number;
}

/** One `key: value` of a mapping, merge keys (`<<`) already expanded. */
export interface YamlField {
  readonly key: string;
  readonly value: Node | null;
  readonly path: string;
}

export function fail(ctx: YamlContext, path: string, detail: string): never {
  throw new ConfigError(ctx.file, path, detail);
}

export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  return parent === "" ? key : `${parent}.${key}`;
}

/** Follows aliases, counting each against the expansion budget. */
export function resolve(ctx: YamlContext, node: unknown): Node | null {
  let current = node;
  while (isAlias(current)) {
    if (++ctx.aliases > MAX_ALIAS_EXPANSIONS) {
      fail(ctx, "", `more than ${MAX_ALIAS_EXPANSIONS} alias expansions (is an alias nested in itself?)`);
    }
    current = (ctx.doc === undefined ? undefined : current.resolve(ctx.doc)) ?? null;
  }
  return (current ?? null) as Node | null;
}

/** A short description of a node for error messages: `a list`, `the float 1.5`, `the string "a"`, `null`. */
export function describe(node: Node | null): string {
  if (node === null) return "null";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (!isScalar(node)) return "an unsupported YAML node";
  const v = node.value;
  if (v === null) return "null";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number") return `the float ${node.source ?? String(v)}`;
  if (typeof v === "bigint") return `the integer ${node.source ?? String(v)}`;
  if (typeof v === "boolean") return `the boolean ${node.source ?? String(v)}`;
  return `the value ${JSON.stringify(node.source ?? String(v))}`;
}

/** The text of a non-string mapping key, as the reference prints it (`key is not of type string: 0.25`). */
function keyText(ctx: YamlContext, key: unknown): string {
  const node = resolve(ctx, key);
  if (node === null) return "<nil>";
  if (isScalar(node)) return node.value === null ? "<nil>" : (node.source ?? String(node.value));
  return isMap(node) ? "a mapping" : "a list";
}

/**
 * The fields of a mapping; keys must be strings from the context's validKeys (reference `validateYamlKeys`). Fields pulled in by
 * a merge key come after the explicit ones, which win.
 */
export function fields(ctx: YamlContext, map: YAMLMap, path: string): YamlField[] {
  const out: YamlField[] = [];
  const merges: unknown[] = [];
  for (const pair of map.items) {
    if (isScalar(pair.key) && typeof pair.key.value === "symbol") {
      merges.push(pair.value);
      continue;
    }
    const keyNode = resolve(ctx, pair.key);
    if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
      fail(ctx, path, `key is not of type string: ${keyText(ctx, pair.key)}`);
    }
    const key = keyNode.value;
    if (!ctx.validKeys.has(key)) fail(ctx, childPath(path, key), `unknown key '${key}'`);
    out.push({ key, value: resolve(ctx, pair.value), path: childPath(path, key) });
  }
  const seen = new Set(out.map((f) => f.key));
  for (const merge of merges) {
    for (const f of mergedFields(ctx, merge, path)) {
      if (seen.has(f.key)) continue;
      seen.add(f.key);
      out.push(f);
    }
  }
  return out;
}

/** YAML 1.1 merge keys (`<<: *base` or `<<: [*a, *b]`), which go-yaml v2 also honours. */
function mergedFields(ctx: YamlContext, value: unknown, path: string): YamlField[] {
  const node = resolve(ctx, value);
  const sources = isSeq(node) ? node.items.map((item) => resolve(ctx, item)) : [node];
  const out: YamlField[] = [];
  for (const source of sources) {
    if (!isMap(source)) fail(ctx, childPath(path, "<<"), `merge key needs a mapping, got ${describe(source)}`);
    out.push(...fields(ctx, source, path));
  }
  return out;
}

/**
 * Checks a value the typed reader does not use (a known key in the wrong place, which the reference ignores):
 * mappings must have valid keys, lists must hold mappings, scalars must not be floats.
 */
export function checkGeneric(ctx: YamlContext, node: Node | null, path: string): void {
  if (isMap(node)) {
    for (const f of fields(ctx, node, path)) checkGeneric(ctx, f.value, f.path);
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const element = resolve(ctx, item);
      if (!isMap(element)) fail(ctx, childPath(path, i), `expected a mapping in this list, got ${describe(element)}`);
      checkGeneric(ctx, element, childPath(path, i));
    });
  } else if (isScalar(node) && !isPlainScalar(node.value)) {
    fail(ctx, path, `unsupported value ${describe(node)} (only strings, integers and booleans are allowed)`);
  }
}

function isPlainScalar(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "bigint" || typeof v === "boolean" || v instanceof Date;
}

/** A string field. Integers, booleans and timestamps read as their source text; null reads as "". */
export function readString(ctx: YamlContext, node: Node | null, path: string): string {
  if (node === null) return "";
  if (!isScalar(node)) return fail(ctx, path, `expected a string, got ${describe(node)}`);
  const v = node.value;
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (isPlainScalar(v)) return node.source ?? String(v);
  return fail(ctx, path, `expected a string, got ${describe(node)}`);
}

/** A boolean field; null reads as false. */
export function readBool(ctx: YamlContext, node: Node | null, path: string): boolean {
  if (node === null) return false;
  if (isScalar(node) && (node.value === null || typeof node.value === "boolean")) return node.value === true;
  return fail(ctx, path, `expected true or false, got ${describe(node)}`);
}

/** A uint32 field (`requests_per_unit`); null reads as 0. Floats, negatives and strings are rejected. */
export function readUint32(ctx: YamlContext, node: Node | null, path: string): number {
  if (node === null) return 0;
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 0;
    if (typeof v === "bigint" && v >= 0n && v <= 4_294_967_295n) return Number(v);
  }
  return fail(ctx, path, `expected a whole number from 0 to 4294967295, got ${describe(node)}`);
}

/** A list field whose items must be mappings; null reads as an empty list. */
export function readMapList(ctx: YamlContext, node: Node | null, path: string): { map: YAMLMap; path: string }[] {
  if (node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) return fail(ctx, path, `expected a list, got ${describe(node)}`);
  return node.items.map((item, i) => {
    const element = resolve(ctx, item);
    if (!isMap(element)) fail(ctx, childPath(path, i), `expected a mapping, got ${describe(element)}`);
    return { map: element, path: childPath(path, i) };
  });
}

/** Converts a `metadata:` value to plain JSON-compatible data (integers to numbers, timestamps to their text). */
export function toPlain(ctx: YamlContext, node: Node | null, path: string): unknown {
  if (node === null) return null;
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const k = resolve(ctx, pair.key);
      const key = isScalar(k) ? (k.source ?? String(k.value)) : fail(ctx, path, "metadata keys must be scalars");
      out[key] = toPlain(ctx, resolve(ctx, pair.value), childPath(path, key));
    }
    return out;
  }
  if (isSeq(node)) return node.items.map((item, i) => toPlain(ctx, resolve(ctx, item), childPath(path, i)));
  if (!isScalar(node)) return fail(ctx, path, `unsupported value ${describe(node)}`);
  const v = node.value;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return node.source ?? v.toISOString();
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  return fail(ctx, path, `unsupported value ${describe(node)}`);
}
