import { describe, expect, it } from "vitest";
import { createLatencyRecorder } from "../../../src/telemetry/latency.js";

describe("createLatencyRecorder()", () => {
  it("counts each value in the first bucket whose bound is not below it, with the sum and count", () => {
    const rec = createLatencyRecorder([1, 10]);
    for (const ms of [0.5, 1, 1.5, 10, 11]) rec.record(ms);
    // buckets <=1, <=10, +Inf, then sum, count
    expect([...rec.data]).toEqual([2, 2, 1, 24, 5]);
  });
});
