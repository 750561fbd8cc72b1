import { describe, expect, it } from "vitest";
import type { CounterOp } from "../../../../src/domain/types.js";
import { createdKey, decodeReply, planBatch, stateBefore } from "../../../../src/store/redis/batch-plan.js";
import { testLimit } from "../../../helpers/limits.js";

const MINUTE = testLimit({ requestsPerUnit: 10, unit: "minute" });
const SECOND = testLimit({ requestsPerUnit: 10, unit: "second" });

/** An op whose window ends at `expiresAtMs` (a minute window, or a one-second window ending then). */
function op(key: string, hits: number, negative = false, expiresAtMs = 60_000): CounterOp {
  const limit = expiresAtMs === 60_000 ? MINUTE : SECOND;
  return {
    key,
    hits,
    negative,
    limit,
    nowMs: 0,
    windowStartSeconds: expiresAtMs / 1000 - limit.windowSeconds,
    group: 1,
  };
}

describe("planBatch()", () => {
  it("coalesces every counting op on a key, across requests, into one segment", () => {
    const plan = planBatch([[op("a", 1), op("b", 2)], [op("a", 3)], [op("a", 0)]]);
    expect(plan.segments).toEqual([
      { key: "a", kind: "incr", total: 4, expiresAtMs: 60_000 },
      { key: "b", kind: "incr", total: 2, expiresAtMs: 60_000 },
    ]);
    // [segment, offset] per op
    expect(plan.refs).toEqual([
      [0, 0, 1, 0],
      [0, 1],
      [0, 4],
    ]);
  });

  it("reads with GET when a key is only checked (hits 0), and upgrades to INCRBY when a later op counts", () => {
    expect(planBatch([[op("r", 0)], [op("r", 0)]]).segments).toEqual([
      { key: "r", kind: "get", total: 0, expiresAtMs: 60_000 },
    ]);
    expect(planBatch([[op("r", 0)], [op("r", 2)]]).segments).toEqual([
      { key: "r", kind: "incr", total: 2, expiresAtMs: 60_000 },
    ]);
  });

  it("keeps a refund as its own segment, in order, and starts a new segment after it", () => {
    const plan = planBatch([[op("k", 2)], [op("k", 1, true)], [op("k", 5)], [op("k", 0, true)]]);
    expect(plan.segments.map((s) => [s.kind, s.total])).toEqual([
      ["incr", 2],
      ["refund", 1],
      ["incr", 5],
    ]);
    expect(plan.refs).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [2, 5],
    ]);
  });

  it("takes the latest window end of a segment's ops for the TTL", () => {
    expect(planBatch([[op("k", 1, false, 1_000), op("k", 1, false, 9_000)]]).segments[0]?.expiresAtMs).toBe(9_000);
  });
});

describe("stateBefore()", () => {
  it("gives each op of a coalesced INCRBY its exact sequential count", () => {
    const plan = planBatch([[op("a", 1)], [op("a", 3)], [op("a", 0)]]);
    const segment = plan.segments[0];
    if (segment === undefined) throw new Error("no segment");
    // Another client had counted 10 before: INCRBY a 4 answered 14.
    expect(plan.refs.map((refs) => stateBefore(segment, 14, refs[1] as number))).toEqual([10, 11, 14]);
  });

  it("answers a GET with the value, and a refund with the script's count before", () => {
    const get = planBatch([[op("g", 0)]]).segments[0];
    const refund = planBatch([[op("n", 3, true)]]).segments[0];
    if (get === undefined || refund === undefined) throw new Error("no segment");
    expect(stateBefore(get, 7, 0)).toBe(7);
    expect(stateBefore(refund, [5, 2], 0)).toBe(5);
  });
});

describe("planBatch() with other limits", () => {
  it("puts every op that is not a lone epoch fixed window into one limits-script call, in order", () => {
    const bucket = { ...op("{d}tb60", 1), limit: testLimit({ algorithm: "token_bucket", burst: 5 }) };
    const first = { ...op("{e}fw1", 1), limit: testLimit({ unit: "second", inList: true }), group: 2 };
    const second = { ...op("{e}fw60", 1), limit: testLimit({ inList: true }), group: 0 };
    const plan = planBatch([
      [op("a", 1), bucket],
      [first, second],
    ]);
    expect(plan.segments.map((s) => s.kind)).toEqual(["incr", "script"]);
    expect(plan.segments[1]?.call?.keys).toEqual(["{d}tb60", "{e}fw1_0", "{e}fw60_0"]);
    expect(plan.refs).toEqual([
      [0, 0, 1, 0],
      [1, 1, 1, 2],
    ]);
  });

  it("splits script calls by Cluster slot when asked", () => {
    const a = { ...op("{a}tb60", 1), limit: testLimit({ algorithm: "token_bucket" }) };
    const b = { ...op("{b}tb60", 1), limit: testLimit({ algorithm: "token_bucket" }) };
    const plan = planBatch([[a, b]], (key) => key.charCodeAt(1));
    expect(plan.segments.map((s) => s.call?.keys)).toEqual([["{a}tb60"], ["{b}tb60"]]);
  });
});

describe("decodeReply()", () => {
  it.each([
    ["incr", 5, 5],
    ["get", null, 0],
    ["get", "42", 42],
    ["refund", [3, 1], [3, 1]],
  ] as const)("decodes a %s reply %j", (kind, raw, expected) => {
    expect(decodeReply(kind, raw)).toEqual(expected);
  });

  it("decodes a GET reply that comes as a Buffer (the RESP batch path)", () => {
    expect(decodeReply("get", Buffer.from("42"))).toBe(42);
    expect(decodeReply("get", Buffer.from("hello"))).toBeInstanceOf(Error);
  });

  it.each([
    ["incr", "5"],
    ["get", "hello"],
    ["refund", [1]],
  ] as const)("refuses a %s reply %j that is not a counter", (kind, raw) => {
    expect(decodeReply(kind, raw)).toBeInstanceOf(Error);
  });
});

describe("createdKey()", () => {
  it("is true only when the INCRBY result equals what was added (the key did not exist)", () => {
    const segment = planBatch([[op("c", 2), op("c", 1)]]).segments[0];
    if (segment === undefined) throw new Error("no segment");
    expect(createdKey(segment, 3)).toBe(true);
    expect(createdKey(segment, 4)).toBe(false);
  });
});
