import { describe, expect, it } from "vitest";
import type { CounterOp } from "../../../../src/domain/types.js";
import { addScriptOp, createScriptCall, opStates, scriptArgs } from "../../../../src/store/redis/limits-script.js";
import { testLimit } from "../../../helpers/limits.js";

const BUCKET = testLimit({ algorithm: "token_bucket", requestsPerUnit: 60, unit: "minute", burst: 5 });
const LISTED = testLimit({ algorithm: "token_bucket", requestsPerUnit: 60, unit: "minute", burst: 5, inList: true });

function op(key: string, hits: number, extra: Partial<CounterOp> = {}): CounterOp {
  return { key, hits, negative: false, limit: BUCKET, nowMs: 1_000, windowStartSeconds: 0, group: 1, ...extra };
}

function callOf(ops: readonly CounterOp[]) {
  const call = createScriptCall();
  const positions = ops.map((o) => addScriptOp(call, o));
  return { call, positions };
}

describe("limits script calls", () => {
  it("sends identical lone ops on a key as one run with a count, and keeps every op's position", () => {
    const { call, positions } = callOf([op("{a}", 1), op("{b}", 1), op("{a}", 1), op("{a}", 1)]);
    expect(positions).toEqual([0, 1, 2, 3]);
    expect(call.keys).toEqual(["{a}", "{b}"]);
    // ARGV: one limit (5 numbers), then per run: limit, hits, now ms, and n (how many identical ops the run applies).
    expect(scriptArgs(call)).toEqual(["1", "4", "0", "60", "60000", "5", "1", "1", "1000", "3", "1", "1", "1000", "1"]);
  });

  it.each([
    ["another cost", op("{a}", 2)],
    ["a refund", op("{a}", 1, { negative: true })],
    ["another instant", op("{a}", 1, { nowMs: 1_001 })],
    ["another limit", op("{a}", 1, { limit: testLimit({ algorithm: "token_bucket", requestsPerUnit: 60 }) })],
  ])("starts a new run for %s", (_label, other) => {
    const { call } = callOf([op("{a}", 1), other, op("{a}", 1)]);
    expect(call.runFirst).toEqual([0, 1, 2]);
  });

  it("never lets a lone op join a run across a group that touched its key", () => {
    const groupOp = op("{a}", 1, { limit: LISTED, group: 2 });
    const member = op("{a}x", 1, { limit: LISTED, group: 0 });
    const { call } = callOf([op("{a}", 1), groupOp, member, op("{a}", 1)]);
    expect(call.runFirst).toEqual([0, 1, 2, 3]);
  });

  it("expands the state before each run into the state before each op, stepping the run's ops in order", () => {
    const { call } = callOf([op("{a}", 2), op("{b}", 2), op("{a}", 2), op("{a}", 2)]);
    // Run {a} starts fresh (-1, 0); run {b} at anchor 1000 with debt 60000 (one unit used).
    const states = opStates(call, [-1, 0, 1_000, 60_000]);
    // Each op of cost 2 adds 2 units (2 × 60000 in ms × rpu) to the debt, all within the burst of 5 units.
    expect(states).toEqual([-1, 0, 1_000, 60_000, 1_000, 120_000, 1_000, 240_000]);
  });

  it("refuses a reply that does not have one state per run", () => {
    const { call } = callOf([op("{a}", 1), op("{a}", 1)]);
    expect(opStates(call, [-1, 0, 5, 5])).toBeInstanceOf(Error);
  });
});
