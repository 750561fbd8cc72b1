/**
 * Cuts a rule file's text at its top-level descriptor items, so that the parse worker can read, check and pack one
 * item at a time and drop it (rules/pack.ts). Built whole, the syntax tree of a 10,000-rule file outlived every young
 * collection of its building, and copying it was most of the work of V8's helper threads, which run at normal
 * priority beside the serving thread (issue 12).
 *
 * Only the usual layout is cut: a top-level `descriptors:` key with nothing after it on its line (a comment aside),
 * followed by a block sequence. Anything else is left whole (undefined). The pieces are exactly the file's lines: the
 * skeleton (every line outside the sequence, `descriptors:` included, so it reads as `descriptors: null`) and each
 * item's lines, with the comments and blank lines after it. Every piece is then read by plain-yaml.ts, which declines
 * anything outside its subset, so a cut can never change what a file means: where a piece is declined, the caller
 * reads the file whole.
 */

export interface ItemChunks {
  /** The file without the items of its top-level `descriptors:` sequence. */
  readonly skeleton: string;
  /** Each top-level item's text, in order. */
  readonly items: Iterable<string>;
}

const DESCRIPTORS = "descriptors:";

export function chunkItems(text: string): ItemChunks | undefined {
  const first = afterDescriptorsLine(text);
  if (first === undefined) return undefined;
  const starts: number[] = [];
  let seqIndent = -1;
  let end = text.length;
  for (let at = first; at < text.length; ) {
    const lineEnd = endOfLine(text, at);
    const indent = indentOf(text, at, lineEnd);
    if (isContent(text, at + indent, lineEnd)) {
      const item = isSeqItem(text, at + indent, lineEnd);
      if (seqIndent === -1) {
        if (!item) return undefined; // not a block sequence
        seqIndent = indent;
      }
      if (indent === seqIndent && item) {
        starts.push(at);
      } else if (indent <= seqIndent) {
        // The sequence ends at the next top-level key; anything else (a line between the sequence's indentation and
        // the root's) is left for the whole read to judge.
        if (indent !== 0) return undefined;
        end = at;
        break;
      }
    }
    at = lineEnd + 1;
  }
  if (starts.length === 0) return undefined;
  // The first item takes the comments and blank lines between `descriptors:` and it.
  starts[0] = first;
  return {
    skeleton: text.slice(0, first) + text.slice(end),
    items: pieces(text, starts, end),
  };
}

function* pieces(text: string, starts: readonly number[], end: number): Generator<string> {
  for (let i = 0; i < starts.length; i++) yield text.slice(starts[i], starts[i + 1] ?? end);
}

/** Where the line after the first top-level `descriptors:` starts, if nothing follows the key on its line. */
function afterDescriptorsLine(text: string): number | undefined {
  const at = text.startsWith(DESCRIPTORS) ? 0 : text.indexOf(`\n${DESCRIPTORS}`) + 1;
  if (at === 0 && !text.startsWith(DESCRIPTORS)) return undefined;
  const lineEnd = endOfLine(text, at);
  // `descriptors: [...]` and the like are left whole.
  return restIsEmpty(text, at + DESCRIPTORS.length, lineEnd) ? Math.min(lineEnd + 1, text.length) : undefined;
}

function endOfLine(text: string, from: number): number {
  const end = text.indexOf("\n", from);
  return end === -1 ? text.length : end;
}

function indentOf(text: string, from: number, lineEnd: number): number {
  let i = from;
  while (i < lineEnd && text.charCodeAt(i) === 0x20) i++;
  return i - from;
}

/** Whether the line holds more than spaces and a comment (as plain-yaml.ts skips them). */
function isContent(text: string, from: number, lineEnd: number): boolean {
  return from < lineEnd && text.charCodeAt(from) !== 0x23; /* # */
}

function isSeqItem(text: string, from: number, lineEnd: number): boolean {
  return text.charCodeAt(from) === 0x2d /* - */ && (from + 1 === lineEnd || text.charCodeAt(from + 1) === 0x20);
}

/** Only spaces, or spaces and a ` #` comment, after the key's colon. */
function restIsEmpty(text: string, from: number, lineEnd: number): boolean {
  const indent = indentOf(text, from, lineEnd);
  const at = from + indent;
  return at === lineEnd || (indent > 0 && text.charCodeAt(at) === 0x23);
}
