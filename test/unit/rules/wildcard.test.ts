import { describe, expect, it } from "vitest";
import { compileWildcard, isWildcard } from "../../../src/rules/wildcard.js";

describe("compileWildcard()", () => {
  it.each([
    ["foo*", "foo", true],
    ["foo*", "foobar", true],
    ["foo*", "fo", false],
    ["foo*", "xfoo", false],
    ["*bar", "bar", true],
    ["*bar", "foobar", true],
    ["*bar", "barx", false],
    ["a*c", "ac", true],
    ["a*c", "abbbc", true],
    ["a*c", "abcd", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["a*b*c", "abcbc", true],
    ["a**b", "ab", true],
    ["*", "", true],
    ["*", "anything/at all", true],
    ["*x*", "x", true],
    ["*x*", "y", false],
    ["ab*ba", "aba", false],
    ["ab*ba", "abba", true],
    ["exact", "exact", true],
    ["exact", "exactly", false],
  ])("matches %j against %j: %s", (pattern, text, expected) => {
    expect(compileWildcard(pattern).matches(text)).toBe(expected);
  });

  it("matches from an offset without building a substring", () => {
    const p = compileWildcard("p*q");
    expect(p.matches("key_pxq", 4)).toBe(true);
    expect(p.matches("key_xpq", 4)).toBe(false);
  });

  it("keeps the pattern source", () => {
    expect(compileWildcard("files/*").source).toBe("files/*");
  });
});

describe("isWildcard()", () => {
  it.each([
    ["a*", true],
    ["*", true],
    ["a", false],
    ["", false],
  ])("says %j is a wildcard: %s", (value, expected) => {
    expect(isWildcard(value)).toBe(expected);
  });
});
