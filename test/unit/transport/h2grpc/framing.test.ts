import { deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { RateLimitResponse, RateLimitResponse_Code } from "../../../../src/gen/envoy/service/ratelimit/v3/rls.js";
import {
  createFrameEncoder,
  decompressMessage,
  frameMessage,
  messageLength,
  PREFIX_BYTES,
} from "../../../../src/transport/h2grpc/framing.js";
import { GrpcStatus } from "../../../../src/transport/h2grpc/protocol.js";

function response(statuses: number, remaining = 7): RateLimitResponse {
  return RateLimitResponse.fromPartial({
    overallCode: RateLimitResponse_Code.OK,
    statuses: Array.from({ length: statuses }, () => ({ code: RateLimitResponse_Code.OK, limitRemaining: remaining })),
  });
}

describe("createFrameEncoder()", () => {
  it("writes the 5-byte prefix (flag 0, big-endian length) before the protobuf", () => {
    const encode = createFrameEncoder(RateLimitResponse);
    const frame = encode(response(1));
    const proto = RateLimitResponse.encode(response(1)).finish();
    expect(frame[0]).toBe(0);
    expect(frame.readUInt32BE(1)).toBe(proto.length);
    expect(frame.subarray(PREFIX_BYTES)).toEqual(Buffer.from(proto));
  });

  it("reuses its writer across small and large messages without mixing them", () => {
    const encode = createFrameEncoder(RateLimitResponse);
    const sizes = [1, 2000, 0, 3, 70_000, 1];
    const frames = sizes.map((n) => encode(response(n)));
    frames.forEach((frame, i) => {
      expect(messageLength(frame)).toBe(frame.length - PREFIX_BYTES);
      expect(RateLimitResponse.decode(frame.subarray(PREFIX_BYTES)).statuses).toHaveLength(sizes[i] ?? -1);
    });
    expect(frames[4]?.length).toBeGreaterThan(65_536);
    expect(frames[4]?.readUInt32BE(1)).toBe((frames[4]?.length ?? 0) - PREFIX_BYTES);
  });

  it("recovers after an encode that throws", () => {
    const encode = createFrameEncoder(RateLimitResponse);
    expect(() => encode(response(3, -1))).toThrow();
    const frame = encode(response(2));
    expect(RateLimitResponse.decode(frame.subarray(PREFIX_BYTES))).toEqual(response(2));
  });
});

describe("frameMessage()", () => {
  it("prefixes already-encoded bytes", () => {
    expect(frameMessage(Uint8Array.from([1, 2, 3]))).toEqual(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    expect(frameMessage(new Uint8Array(0))).toEqual(Buffer.alloc(5));
  });
});

describe("decompressMessage()", () => {
  const message = Buffer.from(RateLimitResponse.encode(response(5)).finish());

  it.each([
    ["gzip", gzipSync(message)],
    ["deflate", deflateSync(message)],
  ])("inflates %s", (encoding, compressed) => {
    expect(decompressMessage(1, encoding, compressed, 1024)).toEqual(message);
  });

  it.each([
    ["no grpc-encoding", undefined],
    ["grpc-encoding identity", "identity"],
  ])("answers INTERNAL for the compressed flag with %s (compression.md)", (_name, encoding) => {
    expect(decompressMessage(1, encoding, message, 1024)).toMatchObject({ code: GrpcStatus.INTERNAL });
  });

  it("answers INTERNAL for a flag that is neither 0 nor 1", () => {
    expect(decompressMessage(2, "gzip", gzipSync(message), 1024)).toMatchObject({ code: GrpcStatus.INTERNAL });
  });

  it("answers UNIMPLEMENTED for an unsupported encoding and lists the supported ones without it", () => {
    const out = decompressMessage(1, "snappy", message, 1024);
    expect(out).toMatchObject({ code: GrpcStatus.UNIMPLEMENTED, acceptEncoding: "identity,deflate,gzip" });
  });

  it("answers RESOURCE_EXHAUSTED when the output would exceed the limit", () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(20_000);
    expect(decompressMessage(1, "gzip", bomb, 1024 * 1024)).toMatchObject({ code: GrpcStatus.RESOURCE_EXHAUSTED });
  });

  it("answers INTERNAL for corrupt compressed data", () => {
    expect(decompressMessage(1, "gzip", Buffer.from("not gzip"), 1024)).toMatchObject({ code: GrpcStatus.INTERNAL });
  });
});
