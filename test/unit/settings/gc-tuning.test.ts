import { describe, expect, it } from "vitest";
import { gcFlag, HEAP_GROWING_PERCENT } from "../../../src/settings/gc-tuning.js";

describe("GC tuning (heap growing factor)", () => {
  it("sets V8's heap growing percent when the operator did not", () => {
    expect(gcFlag([], undefined)).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(gcFlag(["--enable-source-maps"], "--max-old-space-size=512")).toBe("--heap-growing-percent=20");
  });

  it("leaves an operator's own choice alone, in node's arguments or NODE_OPTIONS, in either spelling", () => {
    expect(gcFlag(["--heap-growing-percent=50"], undefined)).toBeUndefined();
    expect(gcFlag([], "--max-old-space-size=512 --heap_growing_percent=10")).toBeUndefined();
  });
});
