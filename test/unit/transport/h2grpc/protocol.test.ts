import { describe, expect, it } from "vitest";
import {
  GrpcStatus,
  grpcStatusName,
  isGrpcProtoContentType,
  parseGrpcTimeout,
  percentDecode,
  percentEncode,
} from "../../../../src/transport/h2grpc/protocol.js";

describe("GrpcStatus", () => {
  it("has the wire numbers of doc/statuscodes.md", () => {
    expect(Object.entries(GrpcStatus).map(([name, code]) => `${code}=${name}`)).toEqual([
      "0=OK",
      "1=CANCELLED",
      "2=UNKNOWN",
      "3=INVALID_ARGUMENT",
      "4=DEADLINE_EXCEEDED",
      "5=NOT_FOUND",
      "6=ALREADY_EXISTS",
      "7=PERMISSION_DENIED",
      "8=RESOURCE_EXHAUSTED",
      "9=FAILED_PRECONDITION",
      "10=ABORTED",
      "11=OUT_OF_RANGE",
      "12=UNIMPLEMENTED",
      "13=INTERNAL",
      "14=UNAVAILABLE",
      "15=DATA_LOSS",
      "16=UNAUTHENTICATED",
    ]);
  });
});

describe("grpcStatusName()", () => {
  it.each([
    [14, "UNAVAILABLE"],
    [0, "OK"],
    [99, "99"],
  ])("names %i %s", (code, name) => {
    expect(grpcStatusName(code)).toBe(name);
  });
});

describe("percentEncode()", () => {
  it.each([
    ["plain ASCII is unchanged", "no rate limit configuration loaded", "no rate limit configuration loaded"],
    ["space and the printable range stay", ' !"#$&~', ' !"#$&~'],
    ["percent is encoded", "100%", "100%25"],
    ["control characters are encoded", "a\r\nb\t", "a%0D%0Ab%09"],
    ["DEL is encoded", "\x7f", "%7F"],
    ["non-ASCII is encoded as UTF-8 bytes", "café ✓", "caf%C3%A9 %E2%9C%93"],
    ["astral characters are four bytes", "😀", "%F0%9F%98%80"],
    ["empty stays empty", "", ""],
  ])("%s", (_name, input, encoded) => {
    expect(percentEncode(input)).toBe(encoded);
  });

  it("returns the same string object when nothing needs encoding", () => {
    const s = 'unknown service "x"';
    expect(percentEncode(s)).toBe(s);
  });
});

describe("percentDecode()", () => {
  it.each([
    ["caf%C3%A9 %E2%9C%93", "café ✓"],
    ["100%25", "100%"],
    ["no escapes", "no escapes"],
    ["lower-case hex %c3%a9", "lower-case hex é"],
  ])("decodes %j", (input, decoded) => {
    expect(percentDecode(input)).toBe(decoded);
  });

  it.each([
    ["a lone percent", "50%", "50%"],
    ["a percent without two hex digits", "%zz%4", "%zz%4"],
    ["invalid UTF-8", "%FF", "\ufffd"],
  ])("does not fail on %s", (_name, input, decoded) => {
    expect(percentDecode(input)).toBe(decoded);
  });

  it("inverts percentEncode", () => {
    for (const s of ["", "a%b", "ünïcödé\r\n", "😀 %41", "\u0000\u001f"])
      expect(percentDecode(percentEncode(s))).toBe(s);
  });
});

describe("parseGrpcTimeout()", () => {
  it.each([
    ["20m", 20],
    ["1S", 1_000],
    ["2M", 120_000],
    ["1H", 3_600_000],
    ["1500u", 1.5],
    ["2000000n", 2],
    ["0m", 0],
    ["99999999S", 99_999_999_000],
  ])("reads %j as %d ms", (value, ms) => {
    expect(parseGrpcTimeout(value)).toBeCloseTo(ms, 9);
  });

  it.each([
    ["no unit", "20"],
    ["no digits", "m"],
    ["an unknown unit", "20s"],
    ["nine digits", "123456789m"],
    ["a sign", "-1m"],
    ["spaces", "1 m"],
    ["a fraction", "1.5S"],
    ["empty", ""],
  ])("rejects %s", (_name, value) => {
    expect(parseGrpcTimeout(value)).toBeUndefined();
  });
});

describe("isGrpcProtoContentType()", () => {
  it.each([
    ["application/grpc", true],
    ["application/grpc+proto", true],
    ["Application/GRPC", true],
    ["application/grpc; charset=utf-8", true],
    ["application/grpc+json", false],
    ["application/grpc-web", false],
    ["application/json", false],
    ["text/plain", false],
    ["", false],
    [undefined, false],
  ])("%j → %s", (value, expected) => {
    expect(isGrpcProtoContentType(value)).toBe(expected);
  });
});
