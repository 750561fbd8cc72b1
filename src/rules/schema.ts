/**
 * Shape check of one rule file: YAML text → RawRuleFile, or a ConfigError naming the file and the YAML path.
 * Semantic checks that need the whole rule set (units, duplicates, replaces) are in compile.ts.
 *
 * Keys follow envoyproxy/ratelimit: a key outside its `validKeys` is an error anywhere; a valid key in a place where
 * the reference's decoder does not read it (e.g. `shadow_mode` inside `rate_limit`) is accepted and ignored as the
 * reference does, and reported through the warning sink so the loader can log it.
 */
import { isMap, isScalar, isSeq, type Node, parseDocument, type YAMLMap } from "yaml";
import { ConfigError } from "../domain/errors.js";
import { chunkItems } from "./item-chunks.js";
import { EXTENSION_KEYS, type RawExtension, readExtensions } from "./limit-keys.js";
import { readPlainYaml } from "./plain-yaml.js";
import {
  checkGeneric,
  childPath,
  describe,
  fail,
  fields,
  readBool,
  readMapList,
  readString,
  readUint32,
  resolve,
  toPlain,
  VALID_KEYS,
  type YamlContext,
  type YamlField,
} from "./yaml-walk.js";

/** One rule file as read from disk: `name` is how errors refer to it (path relative to the rules directory). */
export interface RuleFile {
  readonly name: string;
  readonly text: string;
}

/** Something accepted but suspicious, e.g. a key that has no effect where it is written. */
export interface ConfigWarning {
  readonly file: string;
  readonly path: string;
  readonly detail: string;
}

export type WarningSink = (warning: ConfigWarning) => void;

export interface RawReplace {
  readonly path: string;
  readonly name: string;
}

export interface RawRateLimit {
  readonly path: string;
  /** As written (any case); "" when absent or null. */
  readonly unit: string;
  readonly requestsPerUnit: number;
  readonly unlimited: boolean;
  readonly name: string;
  readonly replaces: readonly RawReplace[];
  /** Sluice's extension keys present (rules/limit-keys.ts). */
  readonly extensions: ReadonlyMap<string, RawExtension>;
}

export interface RawDescriptor {
  readonly path: string;
  readonly key: string;
  /** "" when absent: a value-less key matches any value. */
  readonly value: string;
  readonly rateLimit: RawRateLimit | undefined;
  /** `rate_limits:` (Sluice): several limits applied together; undefined when absent. */
  readonly rateLimits: readonly RawRateLimit[] | undefined;
  /** Path of `rate_limits`, for errors. */
  readonly rateLimitsPath: string;
  readonly descriptors: readonly RawDescriptor[];
  readonly shadowMode: boolean;
  readonly quotaMode: boolean;
  readonly detailedMetric: boolean;
  readonly valueToMetric: boolean;
  readonly shareThreshold: boolean;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

export interface RawRuleFile {
  readonly name: string;
  readonly domain: string;
  readonly descriptors: readonly RawDescriptor[];
}

const TOP_KEYS: ReadonlySet<string> = new Set(["domain", "descriptors"]);
const DESCRIPTOR_KEYS: ReadonlySet<string> = new Set([
  "key",
  "value",
  "rate_limit",
  "rate_limits",
  "descriptors",
  "shadow_mode",
  "quota_mode",
  "detailed_metric",
  "value_to_metric",
  "share_threshold",
  "metadata",
]);
const RATE_LIMIT_KEYS: ReadonlySet<string> = new Set([
  "unit",
  "requests_per_unit",
  "unlimited",
  "name",
  "replaces",
  ...EXTENSION_KEYS,
]);
const REPLACE_KEYS: ReadonlySet<string> = new Set(["name"]);
/** The reference's validKeys plus Sluice's extension keys (rate_limits and rules/limit-keys.ts). */
const ALL_KEYS: ReadonlySet<string> = new Set([...VALID_KEYS, "rate_limits", ...EXTENSION_KEYS]);

/**
 * Parses and shape-checks one rule file. A file with more than one YAML document is rejected: go-yaml's Unmarshal
 * (the reference) silently uses the first one, which hides mistakes, and parsing thousands of documents only to
 * drop them stalled loads (issue 12). `parseDocument` stops at the second document.
 */
export function parseRuleFile(file: RuleFile, warn?: WarningSink): RawRuleFile {
  // Most rule files are in the plain subset plain-yaml.ts reads, ten times faster than yaml; the rest go to yaml.
  const plain = readPlainYaml(file.text);
  const ctx = contextOf(file);
  const root = plain !== undefined ? plain : resolve(ctx, parseWithYaml(file, ctx));
  const top = readTop(ctx, root, warn);
  return {
    name: file.name,
    domain: top.domain,
    descriptors: readDescriptors(ctx, top.descriptors, "descriptors", warn),
  };
}

/** parseRuleFile's result with its top-level items read one at a time, as `items` is iterated. */
export interface StreamedRuleFile {
  readonly name: string;
  readonly domain: string;
  /**
   * The top-level descriptor items in order, each read as parseRuleFile reads it, its warnings given when it is read.
   * An undefined item means the rest of the file is outside what plain-yaml.ts reads: read the file with
   * parseRuleFile instead.
   */
  readonly items: Iterable<RawDescriptor | undefined>;
}

/**
 * Reads `file` one top-level item at a time (rules/item-chunks.ts), so that no more than one item's syntax tree is
 * alive at once (issue 12). Undefined when the file is not in the usual layout or plain-yaml.ts's subset: read it with
 * parseRuleFile. Throws what parseRuleFile would throw for the parts read so far; as a later part of the file may hold
 * an error that parseRuleFile reports first, a caller reports errors by reading the file with parseRuleFile.
 */
export function streamRuleFile(file: RuleFile, warn?: WarningSink): StreamedRuleFile | undefined {
  const chunks = chunkItems(file.text);
  const skeleton = chunks === undefined ? undefined : readPlainYaml(chunks.skeleton);
  if (chunks === undefined || skeleton === undefined || skeleton === null) return undefined;
  const ctx = contextOf(file);
  const top = readTop(ctx, skeleton, warn);
  return { name: file.name, domain: top.domain, items: streamItems(ctx, chunks.items, warn) };
}

function* streamItems(
  ctx: YamlContext,
  texts: Iterable<string>,
  warn: WarningSink | undefined,
): Generator<RawDescriptor | undefined> {
  let index = 0;
  for (const text of texts) {
    // Each piece is a sequence of one item, at the indentation the sequence has in the file.
    const seq = readPlainYaml(text);
    const item = isSeq(seq) && seq.items.length === 1 ? seq.items[0] : undefined;
    if (!isMap(item)) {
      yield undefined;
      return;
    }
    yield readDescriptor(ctx, item, childPath("descriptors", index++), warn);
  }
}

function contextOf(file: RuleFile): YamlContext {
  return { file: file.name, validKeys: ALL_KEYS, doc: undefined, aliases: 0 };
}

/** The root mapping's fields: its domain and its `descriptors:` node; an empty document has neither. */
function readTop(
  ctx: YamlContext,
  root: Node | null,
  warn: WarningSink | undefined,
): { domain: string; descriptors: Node | null } {
  if (root === null || (isScalar(root) && root.value === null)) return { domain: "", descriptors: null };
  if (!isMap(root)) fail(ctx, "", `expected a mapping with domain: and descriptors:, got ${describe(root)}`);
  const known = knownFields(ctx, root, "", TOP_KEYS, warn);
  return {
    domain: readString(ctx, known.get("domain") ?? null, "domain"),
    descriptors: known.get("descriptors") ?? null,
  };
}

/** The document's contents, read by `yaml` (its document kept in `ctx` for aliases); throws its first error. */
function parseWithYaml(file: RuleFile, ctx: YamlContext): unknown {
  const doc = parseDocument(file.text, { version: "1.1", intAsBigInt: true, uniqueKeys: true });
  if (doc.errors.some((e) => e.code === "MULTIPLE_DOCS")) {
    throw new ConfigError(file.name, "", "file holds more than one YAML document (---); Sluice reads one per file");
  }
  const error = doc.errors[0];
  if (error !== undefined) {
    const reason = (error.message.split("\n")[0] ?? error.code).replace(/:$/, "");
    throw new ConfigError(file.name, "", `error loading config file: ${reason}`);
  }
  ctx.doc = doc;
  return doc.contents;
}

/** The fields read at this position; valid keys that belong elsewhere are checked loosely, ignored and warned. */
function knownFields(
  ctx: YamlContext,
  map: YAMLMap,
  path: string,
  keys: ReadonlySet<string>,
  warn: WarningSink | undefined,
): Map<string, Node | null> {
  const out = new Map<string, Node | null>();
  for (const f of fields(ctx, map, path)) {
    if (keys.has(f.key)) {
      out.set(f.key, f.value);
      continue;
    }
    checkGeneric(ctx, f.value, f.path);
    warn?.({ file: ctx.file, path: f.path, detail: misplaced(f, keys) });
  }
  return out;
}

function misplaced(f: YamlField, keys: ReadonlySet<string>): string {
  return `'${f.key}' has no effect here and is ignored (valid here: ${[...keys].join(", ")})`;
}

function readDescriptors(
  ctx: YamlContext,
  node: Node | null,
  path: string,
  warn: WarningSink | undefined,
): RawDescriptor[] {
  return readMapList(ctx, node, path).map((item) => readDescriptor(ctx, item.map, item.path, warn));
}

function readDescriptor(ctx: YamlContext, map: YAMLMap, path: string, warn: WarningSink | undefined): RawDescriptor {
  const f = knownFields(ctx, map, path, DESCRIPTOR_KEYS, warn);
  const at = (key: string): [Node | null, string] => [f.get(key) ?? null, `${path}.${key}`];
  return {
    path,
    key: readString(ctx, ...at("key")),
    value: readString(ctx, ...at("value")),
    rateLimit: readRateLimit(ctx, ...at("rate_limit"), warn),
    rateLimits: readRateLimits(ctx, ...at("rate_limits"), warn),
    rateLimitsPath: `${path}.rate_limits`,
    descriptors: readDescriptors(ctx, ...at("descriptors"), warn),
    shadowMode: readBool(ctx, ...at("shadow_mode")),
    quotaMode: readBool(ctx, ...at("quota_mode")),
    detailedMetric: readBool(ctx, ...at("detailed_metric")),
    valueToMetric: readBool(ctx, ...at("value_to_metric")),
    shareThreshold: readBool(ctx, ...at("share_threshold")),
    metadata: readMetadata(ctx, ...at("metadata")),
  };
}

function readRateLimit(
  ctx: YamlContext,
  node: Node | null,
  path: string,
  warn: WarningSink | undefined,
): RawRateLimit | undefined {
  // go-yaml leaves a pointer field nil for `rate_limit:` with no value: no limit, not an error.
  if (node === null || (isScalar(node) && node.value === null)) return undefined;
  if (!isMap(node)) return fail(ctx, path, `expected a mapping, got ${describe(node)}`);
  const f = knownFields(ctx, node, path, RATE_LIMIT_KEYS, warn);
  const at = (key: string): [Node | null, string] => [f.get(key) ?? null, `${path}.${key}`];
  return {
    path,
    unit: readString(ctx, ...at("unit")),
    requestsPerUnit: readUint32(ctx, ...at("requests_per_unit")),
    unlimited: readBool(ctx, ...at("unlimited")),
    name: readString(ctx, ...at("name")),
    replaces: readMapList(ctx, ...at("replaces")).map((item) => {
      const r = knownFields(ctx, item.map, item.path, REPLACE_KEYS, warn);
      return { path: `${item.path}.name`, name: readString(ctx, r.get("name") ?? null, `${item.path}.name`) };
    }),
    extensions: readExtensions(ctx, f, path),
  };
}

/** `rate_limits:`: a list of `rate_limit` mappings; null or absent is undefined. */
function readRateLimits(
  ctx: YamlContext,
  node: Node | null,
  path: string,
  warn: WarningSink | undefined,
): RawRateLimit[] | undefined {
  if (node === null || (isScalar(node) && node.value === null)) return undefined;
  return readMapList(ctx, node, path).map((item) => readRateLimit(ctx, item.map, item.path, warn) as RawRateLimit);
}

function readMetadata(
  ctx: YamlContext,
  node: Node | null,
  path: string,
): Readonly<Record<string, unknown>> | undefined {
  // `metadata:` is free-form (merged into response dynamic metadata), so its keys are not checked against validKeys.
  if (node === null || (isScalar(node) && node.value === null)) return undefined;
  if (!isMap(node)) return fail(ctx, path, `expected a mapping, got ${describe(node)}`);
  return toPlain(ctx, node, path) as Readonly<Record<string, unknown>>;
}
