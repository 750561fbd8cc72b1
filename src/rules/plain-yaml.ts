/**
 * A fast reader for the plain subset of YAML that rule files are written in, building the same syntax tree the `yaml`
 * library would (its Scalar, YAMLMap, YAMLSeq and Pair classes), so that the schema reads both alike. It exists for
 * speed: `yaml`'s parser spends about 50 µs per rule, which made reading 50,000 rules take seconds of a core that
 * calls needed (issue 12); this one reads the same rules about ten times faster.
 *
 * It returns undefined, and the caller falls back to `yaml`, as soon as the text uses anything outside the subset,
 * so every document it does read is read exactly as `yaml` reads it (plain-yaml.test.ts checks this on generated
 * files). The subset:
 * - block mappings and block sequences (a sequence may sit at its parent key's indentation), indented with spaces;
 * - one-line flow mappings (`{ unit: minute, requests_per_unit: 5 }`), nested ones included;
 * - plain scalars made of letters, digits and `_ - / . *` (with YAML 1.1's booleans, nulls and decimal integers,
 *   resolved as the schema `yaml` is given resolves them), single-quoted ones, and double-quoted ones without escapes;
 * - comments and blank lines.
 * Anything else (tabs, CR, anchors and aliases, tags, merge keys, block scalars, flow sequences, multi-line scalars,
 * duplicate keys, documents markers, floats, octal or signed numbers, timestamps) is left to `yaml`.
 */
import { isMap, isPair, isScalar, isSeq, type Node, Pair, Scalar, YAMLMap, YAMLSeq } from "yaml";

/*
 * The nodes built here are light stand-ins for yaml's classes: yaml's constructors define the node's type as an own
 * property of every node (Object.defineProperty), which was a tenth of the time of reading 50,000 rules. The stand-ins
 * carry the fields the schema walk reads (value and source; items; key and value) and inherit the type from their
 * prototype, copied from a real node, so yaml's isScalar, isMap, isSeq and isPair recognise them
 * (plain-yaml.test.ts checks this, so that a yaml upgrade changing its identity scheme fails loudly).
 */
function typeOf(node: object): [symbol, unknown] {
  const [key] = Object.getOwnPropertySymbols(node);
  if (key === undefined) throw new Error("yaml nodes carry no type symbol: plain-yaml.ts needs updating");
  return [key, (node as Record<symbol, unknown>)[key]];
}
function standIn<T extends object>(prototype: T, real: object, check: (n: unknown) => boolean): T {
  const [key, type] = typeOf(real);
  Object.defineProperty(prototype, key, { value: type });
  if (!check(Object.create(prototype))) throw new Error("yaml does not recognise plain-yaml.ts's nodes");
  return prototype;
}

class LightScalar {
  constructor(
    readonly value: unknown,
    readonly source: string,
  ) {}
}
class LightMap {
  readonly items: LightPair[] = [];
}
class LightSeq {
  readonly items: unknown[] = [];
}
class LightPair {
  constructor(
    readonly key: LightScalar,
    readonly value: unknown,
  ) {}
}
standIn(LightScalar.prototype, new Scalar(null), isScalar);
standIn(LightMap.prototype, new YAMLMap(), isMap);
standIn(LightSeq.prototype, new YAMLSeq(), isSeq);
standIn(LightPair.prototype, new Pair(null), isPair);

type Light = LightScalar | LightMap | LightSeq;

interface Line {
  readonly indent: number;
  /** The line without its indentation and comment, trailing spaces trimmed; never empty. */
  readonly text: string;
}

/** Thrown inside the reader when the text leaves the subset. */
const OUTSIDE = Symbol("outside the subset");

/** The document's root node (null for a document with no content), or undefined when `yaml` must read it. */
export function readPlainYaml(source: string): Node | null | undefined {
  const lines = splitLines(source);
  if (lines === undefined) return undefined;
  if (lines.length === 0) return null;
  const reader = new Reader(lines);
  try {
    const root = reader.block((lines[0] as Line).indent);
    if (reader.at < lines.length) return undefined; // a line less indented than the first: not a single root
    // The schema walks yaml's Node types; these stand-ins have the fields it reads and pass yaml's type checks.
    return root as unknown as Node;
  } catch (err) {
    if (err === OUTSIDE) return undefined;
    throw err;
  }
}

/** The content lines, or undefined for text the subset does not cover at the line level. */
function splitLines(source: string): Line[] | undefined {
  if (hasUnusualCharacters(source)) return undefined;
  const out: Line[] = [];
  let start = 0;
  while (start <= source.length) {
    let end = source.indexOf("\n", start);
    if (end === -1) end = source.length;
    const raw = source.slice(start, end);
    start = end + 1;
    let indent = 0;
    while (indent < raw.length && raw.charCodeAt(indent) === 0x20) indent++;
    if (indent === raw.length || raw.charCodeAt(indent) === 0x23 /* # */) continue;
    if (indent === 0 && (raw.startsWith("---") || raw.startsWith("...") || raw.startsWith("%"))) return undefined;
    const text = withoutComment(raw, indent);
    if (text === undefined) return undefined;
    out.push({ indent, text });
  }
  return out;
}

/** Tabs, CR, other control characters, a BOM, and YAML 1.1's other line breaks (NEL, LS, PS): yaml's to read. */
function hasUnusualCharacters(source: string): boolean {
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c < 0x20 ? c !== 0x0a : c === 0x7f || c === 0x85 || c === 0x2028 || c === 0x2029 || c === 0xfeff) return true;
  }
  return false;
}

/** The line from `from` with a trailing ` # comment` and spaces removed; undefined if quotes make it unclear. */
function withoutComment(raw: string, from: number): string | undefined {
  let end = raw.length;
  let quote = 0;
  for (let i = from; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
      continue;
    }
    if (c === 0x22 /* " */ || c === 0x27 /* ' */) {
      quote = c;
    } else if (c === 0x23 /* # */ && raw.charCodeAt(i - 1) === 0x20) {
      end = i;
      break;
    }
  }
  if (quote !== 0) return undefined;
  while (end > from && raw.charCodeAt(end - 1) === 0x20) end--;
  return raw.slice(from, end);
}

const PLAIN = /^[A-Za-z0-9_\-/.*]+$/;
const TRUE = /^(?:Y|y|[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/;
const FALSE = /^(?:N|n|[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;
const NULL = /^(?:[Nn]ull|NULL)$/;
const SPECIAL_WORDS: ReadonlySet<string> = new Set(["y", "n", "yes", "no", "on", "off", "true", "false", "null"]);
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** A plain scalar as YAML 1.1 (`yaml`'s "yaml-1.1" schema, integers as bigint) resolves it. */
function plainScalar(text: string): LightScalar {
  if (!PLAIN.test(text)) throw OUTSIDE;
  const first = text.charCodeAt(0);
  let value: unknown;
  if (first === 0x2a /* * alias */ || first === 0x2d /* - */ || first === 0x2e /* . */) throw OUTSIDE;
  if (first >= 0x30 && first <= 0x39) {
    if (!DECIMAL.test(text)) throw OUTSIDE; // octal, floats, timestamps, 1_000 ...
    value = BigInt(text);
  } else if (TRUE.test(text)) {
    value = true;
  } else if (FALSE.test(text)) {
    value = false;
  } else if (NULL.test(text)) {
    value = null;
  } else {
    if (SPECIAL_WORDS.has(text.toLowerCase())) throw OUTSIDE; // odd capitalisations: let yaml decide
    value = text;
  }
  return scalar(value, text);
}

function scalar(value: unknown, source: string): LightScalar {
  return new LightScalar(value, source);
}

/** A quoted scalar starting at `text[from]`; returns it and the index after its closing quote. */
function quotedScalar(text: string, from: number): [LightScalar, number] {
  const quote = text[from] as string;
  let value = "";
  let i = from + 1;
  for (;;) {
    const close = text.indexOf(quote, i);
    if (close === -1) throw OUTSIDE;
    value += text.slice(i, close);
    if (quote === "'" && text[close + 1] === "'") {
      value += "'";
      i = close + 2;
      continue;
    }
    if (quote === '"' && value.includes("\\")) throw OUTSIDE;
    return [scalar(value, value), close + 1];
  }
}

class Reader {
  at = 0;

  constructor(private readonly lines: readonly Line[]) {}

  /** The block node starting at the current line, whose indentation is `indent`. */
  block(indent: number): Light {
    const line = this.lines[this.at] as Line;
    if (line.indent !== indent) throw OUTSIDE;
    return isSeqItem(line.text) ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): LightSeq {
    const seq = new LightSeq();
    for (let line = this.current(); line?.indent === indent && isSeqItem(line.text); line = this.current()) {
      let rest = 1;
      while (line.text.charCodeAt(rest) === 0x20) rest++;
      if (rest === line.text.length) {
        this.at++;
        seq.items.push(this.nested(indent, false));
        continue;
      }
      const content = line.text.slice(rest);
      if (isSeqItem(content)) throw OUTSIDE;
      if (keyEnd(content) !== -1) {
        // `- key: value`: a mapping whose first line starts after the dash.
        (this.lines as Line[])[this.at] = { indent: indent + rest, text: content };
        seq.items.push(this.mapping(indent + rest));
      } else {
        this.at++;
        seq.items.push(this.inline(content, indent));
      }
    }
    return seq;
  }

  private mapping(indent: number): LightMap {
    const map = new LightMap();
    const keys = new Set<string>();
    for (let line = this.current(); line?.indent === indent; line = this.current()) {
      if (isSeqItem(line.text)) break; // the end of a sequence's item mapping
      const end = keyEnd(line.text);
      if (end === -1) throw OUTSIDE;
      const key = keyScalar(line.text.slice(0, end));
      if (keys.has(key.value as string)) throw OUTSIDE; // yaml's duplicate-key error
      keys.add(key.value as string);
      let from = end + 1;
      while (line.text.charCodeAt(from) === 0x20) from++;
      this.at++;
      const value = from === line.text.length ? this.nested(indent, true) : this.inline(line.text.slice(from), indent);
      map.items.push(new LightPair(key, value));
    }
    return map;
  }

  /** What follows a `key:` or `-` with nothing after it: a deeper block, a sequence at the same indentation, or null. */
  private nested(indent: number, sequenceMaySitHere: boolean): Light {
    const next = this.current();
    if (next !== undefined && next.indent > indent) return this.block(next.indent);
    if (sequenceMaySitHere && next !== undefined && next.indent === indent && isSeqItem(next.text)) {
      return this.sequence(indent);
    }
    return scalar(null, "");
  }

  /** A value written on its key's (or dash's) line. */
  private inline(text: string, indent: number): Light {
    const next = this.current();
    if (next !== undefined && next.indent > indent) throw OUTSIDE; // a multi-line scalar or a misplaced block
    const first = text[0];
    if (first === "{") {
      const [map, end] = flowMapping(text, 0);
      if (end !== text.length) throw OUTSIDE;
      return map;
    }
    if (first === '"' || first === "'") {
      const [node, end] = quotedScalar(text, 0);
      if (end !== text.length) throw OUTSIDE;
      return node;
    }
    return plainScalar(text);
  }

  private current(): Line | undefined {
    return this.lines[this.at];
  }
}

function isSeqItem(text: string): boolean {
  return text.charCodeAt(0) === 0x2d /* - */ && (text.length === 1 || text.charCodeAt(1) === 0x20);
}

/** Where a block mapping key ends (the index of its `:`), or -1 when the line is no `key:` line of the subset. */
function keyEnd(text: string): number {
  const colon = text.indexOf(":");
  if (colon <= 0) return -1;
  if (colon + 1 < text.length && text.charCodeAt(colon + 1) !== 0x20) return -1;
  return colon;
}

function keyScalar(text: string): LightScalar {
  const key = plainScalar(text);
  if (typeof key.value !== "string") throw OUTSIDE; // the schema's error for a non-string key is yaml's to phrase
  return key;
}

/** A one-line flow mapping starting at `text[from]` (a `{`); returns it and the index after its `}`. */
function flowMapping(text: string, from: number): [LightMap, number] {
  const map = new LightMap();
  const keys = new Set<string>();
  let i = skipSpaces(text, from + 1);
  if (text[i] === "}") return [map, i + 1];
  for (;;) {
    const colon = text.indexOf(":", i);
    if (colon === -1) throw OUTSIDE;
    const key = keyScalar(text.slice(i, colon).trimEnd());
    if (keys.has(key.value as string)) throw OUTSIDE;
    keys.add(key.value as string);
    if (text[colon + 1] !== " ") throw OUTSIDE;
    i = skipSpaces(text, colon + 1);
    let value: Light;
    const first = text[i];
    if (first === "{") {
      [value, i] = flowMapping(text, i);
    } else if (first === '"' || first === "'") {
      [value, i] = quotedScalar(text, i);
    } else {
      let end = i;
      while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
      const plain = text.slice(i, end).trimEnd();
      if (plain === "") throw OUTSIDE;
      value = plainScalar(plain);
      i = end;
    }
    map.items.push(new LightPair(key, value));
    i = skipSpaces(text, i);
    if (text[i] === "}") return [map, i + 1];
    if (text[i] !== ",") throw OUTSIDE;
    i = skipSpaces(text, i + 1);
    if (text[i] === "}") throw OUTSIDE; // a trailing comma: yaml's to judge
  }
}

function skipSpaces(text: string, from: number): number {
  let i = from;
  while (text.charCodeAt(i) === 0x20) i++;
  return i;
}
