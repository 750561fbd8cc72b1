import { describe, expect, it } from "vitest";
import type { Entry } from "../../../src/domain/types.js";
import { buildCacheKey, overrideFullKey } from "../../../src/engine/cache-key.js";

const e = (key: string, value: string): Entry => ({ key, value });

describe("buildCacheKey()", () => {
  it("builds the reference's key: domain rl, (user, 42), MINUTE at t=1700000065", () => {
    expect(buildCacheKey("", "rl", [e("user", "42")], [], 1_700_000_040)).toBe("rl_user_42_1700000040");
  });

  it.each([
    ["a prefix", "pre:", "rl", [e("user", "42")], [], "pre:rl_user_42_1700000040"],
    ["several entries", "", "rl", [e("a", "1"), e("b", "2"), e("c", "3")], [], "rl_a_1_b_2_c_3_1700000040"],
    ["an empty value", "", "rl", [e("ip", "")], [], "rl_ip__1700000040"],
    ["no entries", "", "rl", [], [], "rl_1700000040"],
    [
      "a shared wildcard value",
      "",
      "rl",
      [e("path", "/api/x"), e("m", "GET")],
      ["/api/*"],
      "rl_path_/api/*_m_GET_1700000040",
    ],
    [
      "a shared value at a deeper level only",
      "",
      "rl",
      [e("a", "1"), e("b", "foo9")],
      [undefined, "foo*"],
      "rl_a_1_b_foo*_1700000040",
    ],
  ] as const)("handles %s", (_label, prefix, domain, entries, overrides, key) => {
    expect(buildCacheKey(prefix, domain, entries, overrides, 1_700_000_040)).toBe(key);
  });
});

describe("overrideFullKey()", () => {
  it.each([
    [[e("user", "42")], "rl.user_42"],
    [[e("user", "42"), e("path", "")], "rl.user_42.path"],
    [[], "rl."],
  ])("names %j as %s", (entries, key) => {
    expect(overrideFullKey("rl", entries)).toBe(key);
  });
});
