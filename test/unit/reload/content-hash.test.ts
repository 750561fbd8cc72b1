import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { contentHash } from "../../../src/reload/content-hash.js";
import type { RuleFileBytes } from "../../../src/reload/rules-loader.js";

const file = (name: string, text: string): RuleFileBytes => ({ name, bytes: new TextEncoder().encode(text) });

describe("contentHash()", () => {
  it("is SHA-256 over each file's name length, name, size and bytes, in order, whatever the slicing", async () => {
    const big = "x".repeat(1_000_003); // several slices, the last one short
    const files = [file("a.yaml", "domain: a\n"), file("team/b.yaml", big), file("c.yaml", "")];
    const expected = createHash("sha256")
      .update("6:a.yaml10:domain: a\n")
      .update(`11:team/b.yaml1000003:${big}`)
      .update("6:c.yaml0:")
      .digest("hex");
    expect(await contentHash(files)).toBe(expected);
  });

  it("turns the event loop between slices of a large file", async () => {
    // One setImmediate per loop turn: counts turns, whatever the machine's speed.
    let turns = 0;
    let done = false;
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    await contentHash([file("big.yaml", "y".repeat(4 * 1024 * 1024))]); // 16 slices of 256 KiB
    done = true;
    expect(turns).toBeGreaterThanOrEqual(15);
  });

  it("changes with any byte, any name and the order, and not otherwise", async () => {
    const base = [file("a.yaml", "domain: a\n"), file("b.yaml", "domain: b\n")];
    const h = await contentHash(base);
    expect(await contentHash([file("a.yaml", "domain: a\n"), file("b.yaml", "domain: b\n")])).toBe(h);
    const variants = [
      [file("a.yaml", "domain: a\n"), file("b.yaml", "domain: c\n")],
      [file("a.yaml", "domain: a\n"), file("c.yaml", "domain: b\n")],
      [file("b.yaml", "domain: b\n"), file("a.yaml", "domain: a\n")],
      // The same bytes split differently between two names.
      [file("a.yaml", "domain: a\nd"), file("b.yaml", "omain: b\n")],
      [file("a.yaml", "domain: a\n")],
      [],
    ];
    const hashes = await Promise.all(variants.map(contentHash));
    expect(new Set([h, ...hashes]).size).toBe(variants.length + 1);
  });

  it("leaves the bytes readable (the load moves them to the worker afterwards)", async () => {
    const f = file("a.yaml", "domain: a\n");
    await contentHash([f]);
    expect(new TextDecoder().decode(f.bytes)).toBe("domain: a\n");
  });
});
