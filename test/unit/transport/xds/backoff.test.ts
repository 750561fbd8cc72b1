import { describe, expect, it } from "vitest";
import { createBackoff } from "../../../../src/transport/xds/backoff.js";

const SETTINGS = { initialMs: 1_000, maxMs: 5_000, randomFactor: 0.5, jitter: true };

describe("createBackoff()", () => {
  it("retries every connect interval ±50 % until the server has been reached once", () => {
    const low = createBackoff(3_000, SETTINGS, () => 0);
    const high = createBackoff(3_000, SETTINGS, () => 0.999_999);
    expect([low.next(), low.next()]).toEqual([1_500, 1_500]);
    expect(high.next()).toBe(4_500);
  });

  it("doubles from the initial interval up to the maximum after a working stream ends, and resets on a response", () => {
    const b = createBackoff(3_000, { ...SETTINGS, jitter: false }, () => 0);
    b.reset();
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    b.reset();
    expect(b.next()).toBe(1_000);
  });

  it.each([
    [0, 500],
    [0.5, 1_000],
    [0.75, 1_250],
  ])("spreads each delay over ±RANDOM_FACTOR with jitter (random %d → %d ms)", (r, ms) => {
    const b = createBackoff(3_000, SETTINGS, () => r);
    b.reset();
    expect(b.next()).toBe(ms);
  });
});
