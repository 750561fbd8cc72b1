import { describe, expect, it } from "vitest";
import { REFUND_LUA } from "../../../../src/store/redis/refund-script.js";
import { encodeBatch } from "../../../../src/store/redis/resp-sender.js";
import { addCommand, createWireBatch, type WireKind } from "../../../../src/store/redis/wire-batch.js";

function batchOf(...commands: [WireKind, string, number][]) {
  const batch = createWireBatch();
  for (const [kind, key, arg] of commands) addCommand(batch, kind, key, arg);
  return batch;
}

describe("encodeBatch()", () => {
  it.each([
    ["incr", "rl_ip_1.2.3.4_1700000040", 3, "*3\r\n$6\r\nINCRBY\r\n$24\r\nrl_ip_1.2.3.4_1700000040\r\n$1\r\n3\r\n"],
    ["get", "k", 0, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"],
    ["expire", "k", 3600, "*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$4\r\n3600\r\n"],
  ] as const)("writes %s as a RESP array of bulk strings", (kind, key, arg, expected) => {
    expect(encodeBatch(batchOf([kind, key, arg]))).toBe(expected);
  });

  it("writes a refund as EVAL of the refund script with one key", () => {
    const script = `$${Buffer.byteLength(REFUND_LUA)}\r\n${REFUND_LUA}\r\n`;
    expect(encodeBatch(batchOf(["refund", "k", 2]))).toBe(
      `*5\r\n$4\r\nEVAL\r\n${script}$1\r\n1\r\n$1\r\nk\r\n$1\r\n2\r\n`,
    );
  });

  it("counts key lengths in UTF-8 bytes, not characters", () => {
    const text = encodeBatch(batchOf(["get", "user_é€", 0]));
    expect(text).toBe("*2\r\n$3\r\nGET\r\n$10\r\nuser_é€\r\n");
  });

  it("concatenates every command of the batch in order", () => {
    const text = encodeBatch(batchOf(["incr", "a", 1], ["get", "b", 0], ["expire", "a", 60]));
    expect(
      text
        .split("*")
        .filter(Boolean)
        .map((c) => c.split("\r\n")[2]),
    ).toEqual(["INCRBY", "GET", "EXPIRE"]);
  });
});
