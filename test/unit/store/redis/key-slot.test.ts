import { describe, expect, it } from "vitest";
import { keySlot } from "../../../../src/store/redis/key-slot.js";

describe("keySlot()", () => {
  // Values from Redis's CLUSTER KEYSLOT.
  it.each([
    ["foo", 12182],
    ["bar", 5061],
    ["hello", 866],
    ["somekey", 11058],
    ["", 0],
  ])("hashes %j to slot %i", (key, slot) => {
    expect(keySlot(key)).toBe(slot);
  });

  it("hashes only a non-empty {hash tag}", () => {
    expect(keySlot("{user1000}.following")).toBe(keySlot("user1000"));
    expect(keySlot("foo{}{bar}")).toBe(keySlot("foo{}{bar}"));
    expect(keySlot("foo{}{bar}")).not.toBe(keySlot("bar"));
    expect(keySlot("foo{{bar}}zap")).toBe(keySlot("{bar"));
  });

  it("hashes the UTF-8 bytes of the key", () => {
    expect(keySlot("ключ")).toBe(keySlot(Buffer.from("ключ", "utf8").toString("utf8")));
    expect(keySlot("ключ")).toBeLessThan(16_384);
  });
});
