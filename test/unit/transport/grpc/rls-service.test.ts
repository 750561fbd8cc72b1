import { describe, expect, it } from "vitest";
import { RateLimitRequest } from "../../../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { decodeRequest, RlsServiceDefinition } from "../../../../src/transport/grpc/rls-service.js";

/** A RateLimitRequest whose domain (field 1) holds `bytes` verbatim. */
function withDomainBytes(bytes: number[]): Buffer {
  return Buffer.from([0x0a, bytes.length, ...bytes]);
}

describe("decodeRequest()", () => {
  it("decodes a valid request", () => {
    const bytes = Buffer.from(
      RateLimitRequest.encode(
        RateLimitRequest.fromPartial({ domain: "d", descriptors: [{ entries: [{ key: "k", value: "é✓" }] }] }),
      ).finish(),
    );
    const out = decodeRequest(bytes);
    expect(out.ok).toBe(true);
    expect(out.ok && out.request.descriptors[0]?.entries[0]?.value).toBe("é✓");
  });

  it("decodes an empty message as the default request", () => {
    expect(decodeRequest(Buffer.alloc(0))).toEqual({
      ok: true,
      request: { domain: "", descriptors: [], hitsAddend: 0 },
    });
  });

  it.each([
    ["a truncated length", Buffer.from([0x0a, 0x05, 0x61])],
    ["a wire type that does not exist", Buffer.from([0x0f])],
    ["random garbage", Buffer.from("this is not a protobuf message at all, just text", "utf8")],
    ["a field number 0", Buffer.from([0x00, 0x01])],
  ])("returns a reason instead of throwing for %s", (_name, bytes) => {
    const out = decodeRequest(bytes);
    expect(out.ok).toBe(false);
    expect(!out.ok && out.reason.length).toBeGreaterThan(0);
  });

  it.each([
    ["a lone continuation byte", [0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["an overlong encoding", [0xc0, 0xaf]],
    ["a UTF-16 surrogate", [0xed, 0xa0, 0x80]],
  ])("rejects non-UTF-8 strings: %s", (_name, bytes) => {
    expect(decodeRequest(withDomainBytes(bytes)).ok).toBe(false);
  });

  it("keeps a leading U+FEFF as text", () => {
    const out = decodeRequest(withDomainBytes([0xef, 0xbb, 0xbf, 0x64]));
    expect(out.ok && out.request.domain).toBe("\ufeffd");
  });
});

describe("RlsServiceDefinition", () => {
  it("serves the RLS v3 method path with the non-throwing deserializer", () => {
    expect(RlsServiceDefinition.shouldRateLimit.path).toBe(
      "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
    );
    expect(RlsServiceDefinition.shouldRateLimit.requestDeserialize(Buffer.from([0xff])).ok).toBe(false);
  });
});
