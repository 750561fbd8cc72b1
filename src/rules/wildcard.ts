/**
 * Wildcard values of rule descriptors: `*` anywhere in a `value:` matches any run of characters, including none
 * (envoyproxy/ratelimit PR #403 added a trailing `*`, PR #1085 `*` in the middle and several `*`). Patterns are
 * compiled once, when the rules load, into literal segments; matching is a prefix test, a suffix test and one
 * `indexOf` per middle segment, with no allocation.
 */

/** A compiled `*` pattern. */
export interface WildcardPattern {
  /** The pattern as written in the rule file, e.g. `files/*` (what `share_threshold` writes into cache keys). */
  readonly source: string;
  /**
   * Whether `text.slice(offset)` matches the whole pattern. The offset lets the composite-key lookup skip the
   * `key_` prefix without building a substring.
   */
  matches(text: string, offset?: number): boolean;
}

/** True when a rule value is a wildcard pattern (contains at least one `*`). */
export function isWildcard(value: string): boolean {
  return value.includes("*");
}

/** Compiles a `*` pattern. Consecutive stars behave like one. */
export function compileWildcard(source: string): WildcardPattern {
  const parts = source.split("*");
  const head = parts[0] ?? "";
  const tail = parts.length > 1 ? (parts[parts.length - 1] ?? "") : "";
  const middle = parts.slice(1, -1).filter((p) => p !== "");
  const minLength = head.length + tail.length + middle.reduce((n, p) => n + p.length, 0);
  const literal = parts.length === 1;
  return Object.freeze({
    source,
    matches(text: string, offset = 0): boolean {
      if (literal) return text.length - offset === head.length && text.startsWith(head, offset);
      if (text.length - offset < minLength) return false;
      if (!text.startsWith(head, offset) || !text.endsWith(tail)) return false;
      const end = text.length - tail.length;
      let pos = offset + head.length;
      for (const part of middle) {
        // Leftmost placement of each middle segment is optimal for patterns whose only metacharacter is `*`.
        const at = text.indexOf(part, pos);
        if (at === -1 || at + part.length > end) return false;
        pos = at + part.length;
      }
      return true;
    },
  });
}
