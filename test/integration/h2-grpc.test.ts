/**
 * The node:http2 gRPC server as a peer sees it, through node:http2 and raw sockets: the response shape (headers,
 * one framed message, trailers; trailers-only for errors), HTTP 405/415, unknown methods, the length prefix
 * (oversize, none, two, truncated), the compressed flag and grpc-encoding, grpc-timeout (also with a Redis call in
 * flight, which completes and counts exactly once), client resets and malformed connections. The service keeps
 * serving after each case.
 */
import { type ClientHttp2Session, constants } from "node:http2";
import { deflateSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  RateLimitRequest,
  RateLimitResponse,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { HealthCheckRequest } from "../../src/gen/grpc/health/v1/health.js";
import { GrpcStatus } from "../../src/transport/h2grpc/protocol.js";
import {
  frame,
  frameTypes,
  GOAWAY,
  grpcMessage,
  grpcStatus,
  h2call,
  h2connect,
  PREFACE,
  RLS_PATH,
  rawFrame,
  sendRaw,
} from "../helpers/h2-client.js";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { type Harness, startHarness } from "../helpers/service.js";

const RULES = `domain: test
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 5 }
`;
const MAX = 1024 * 1024;

function request(value: string): Buffer {
  const message = RateLimitRequest.fromPartial({
    domain: "test",
    descriptors: [{ entries: [{ key: "user", value }] }],
  });
  return Buffer.from(RateLimitRequest.encode(message).finish());
}

let h: Harness;
let session: ClientHttp2Session;

beforeAll(async () => {
  h = await startHarness({ rules: { "config.yaml": RULES } });
  session = await h2connect(h.grpcTarget);
});

afterAll(async () => {
  session?.close();
  await h?.close();
});

afterEach(async () => {
  const ok = await h2call(session, { body: [frame(request("still-serving"))] });
  expect(grpcStatus(ok)).toBe(GrpcStatus.OK);
  expect(h.logs.filter((l) => l.level >= 50)).toEqual([]);
});

/** Remaining count for `value` after one more hit. */
async function remainingAfterHit(value: string): Promise<number | undefined> {
  const reply = await h2call(session, { body: [frame(request(value))] });
  return RateLimitResponse.decode(reply.data.subarray(5)).statuses[0]?.limitRemaining;
}

describe("successful calls", () => {
  it("answers :status 200, application/grpc, one framed message, then grpc-status 0 trailers", async () => {
    const reply = await h2call(session, { body: [frame(request("shape"))] });
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/grpc");
    expect(reply.headers["grpc-status"]).toBeUndefined();
    expect(reply.trailers).toEqual(expect.objectContaining({ "grpc-status": "0" }));
    expect(reply.trailers?.["grpc-message"]).toBeUndefined();
    expect(reply.data[0]).toBe(0);
    expect(reply.data.readUInt32BE(1)).toBe(reply.data.length - 5);
    const res = RateLimitResponse.decode(reply.data.subarray(5));
    expect(res.overallCode).toBe(Code.OK);
    expect(res.statuses[0]?.limitRemaining).toBe(4);
  });

  it.each(["application/grpc+proto", "application/grpc; charset=utf-8"])("accepts content-type %s", async (ct) => {
    const reply = await h2call(session, { contentType: ct, body: [frame(request("ct"))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
  });

  it("reads a message split across many DATA frames, the prefix too", async () => {
    const bytes = frame(request("split"));
    const chunks = Array.from(bytes, (b) => Buffer.from([b]));
    const reply = await h2call(session, { body: chunks });
    expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
    expect(RateLimitResponse.decode(reply.data.subarray(5)).statuses).toHaveLength(1);
  });

  it.each([
    ["gzip", gzipSync],
    ["deflate", deflateSync],
  ])("serves a %s-compressed request", async (encoding, compress) => {
    const reply = await h2call(session, {
      headers: { "grpc-encoding": encoding },
      body: [frame(compress(request(`z-${encoding}`)), 1)],
    });
    expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
  });
});

describe("requests that are not gRPC calls this server has", () => {
  it.each([
    ["text/plain", 415],
    ["application/grpc+json", 415],
    [undefined, 415],
  ])("answers content-type %j with HTTP %i", async (ct, httpStatus) => {
    const reply = await h2call(session, { contentType: ct, body: [frame(request("x"))] });
    expect(reply.headers[":status"]).toBe(httpStatus);
    expect(grpcStatus(reply)).toBe(GrpcStatus.INTERNAL);
  });

  it("answers GET with HTTP 405 and allow: POST", async () => {
    const reply = await h2call(session, { method: "GET" });
    expect(reply.headers[":status"]).toBe(405);
    expect(reply.headers["allow"]).toBe("POST");
  });

  it("answers an unknown method UNIMPLEMENTED in the trailers-only form, message percent-encoded", async () => {
    const reply = await h2call(session, { path: "/pkg.Nope/Do%41", body: [frame(request("x"))] });
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/grpc");
    expect(reply.headers["grpc-status"]).toBe("12");
    expect(reply.trailers).toBeUndefined();
    expect(reply.data).toHaveLength(0);
    expect(reply.headers["grpc-message"]).toBe("The server does not implement the method /pkg.Nope/Do%2541");
    expect(grpcMessage(reply)).toBe("The server does not implement the method /pkg.Nope/Do%41");
  });

  it("percent-encodes a non-ASCII grpc-message as UTF-8", async () => {
    const check = Buffer.from(HealthCheckRequest.encode({ service: "café ✓" }).finish());
    const reply = await h2call(session, { path: "/grpc.health.v1.Health/Check", body: [frame(check)] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.NOT_FOUND);
    expect(reply.headers["grpc-message"]).toBe('unknown service "caf%C3%A9 %E2%9C%93"');
    expect(grpcMessage(reply)).toBe('unknown service "café ✓"');
  });
});

describe("the length-prefixed message", () => {
  it("answers RESOURCE_EXHAUSTED once the prefix announces too much, without waiting for the body", async () => {
    const reply = await h2call(session, { body: [frame(Buffer.alloc(1000), 0, MAX + 1)], end: false });
    expect(grpcStatus(reply)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(reply.trailers).toBeUndefined();
    expect(reply.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
  });

  it("accepts a message of exactly the limit (answered by the RLS decoder, not the transport)", async () => {
    const reply = await h2call(session, { body: [frame(Buffer.alloc(MAX, 0))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(grpcMessage(reply)).toMatch(/malformed RateLimitRequest/);
  });

  it.each([
    ["no message at all", [], GrpcStatus.UNIMPLEMENTED, /no request message/],
    ["two messages", [frame(request("a")), frame(request("b"))], GrpcStatus.UNIMPLEMENTED, /second request message/],
    ["a second, partial message", [frame(request("a")), Buffer.from([0])], GrpcStatus.UNIMPLEMENTED, /second/],
    ["a truncated prefix", [Buffer.from([0, 0, 0])], GrpcStatus.INTERNAL, /inside a length-prefixed message/],
    ["a truncated message", [frame(Buffer.alloc(3), 0, 10)], GrpcStatus.INTERNAL, /inside a length-prefixed/],
    ["compressed flag 2", [frame(request("a"), 2)], GrpcStatus.INTERNAL, /Compressed-Flag 2/],
  ])("answers %s with an error status", async (_name, body, code, message) => {
    const reply = await h2call(session, { body });
    expect(grpcStatus(reply)).toBe(code);
    expect(grpcMessage(reply)).toMatch(message);
  });

  it.each([
    ["no grpc-encoding", {}],
    ["grpc-encoding identity", { "grpc-encoding": "identity" }],
  ])("answers the compressed flag with %s INTERNAL (compression.md)", async (_name, headers) => {
    const reply = await h2call(session, { headers, body: [frame(request("c"), 1)] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.INTERNAL);
  });

  it("answers an unsupported grpc-encoding UNIMPLEMENTED with grpc-accept-encoding", async () => {
    const reply = await h2call(session, { headers: { "grpc-encoding": "snappy" }, body: [frame(request("s"), 1)] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(reply.headers["grpc-accept-encoding"]).toBe("identity,deflate,gzip");
  });
});

describe("grpc-timeout", () => {
  it("answers a malformed grpc-timeout INTERNAL", async () => {
    const reply = await h2call(session, { headers: { "grpc-timeout": "soon" }, body: [frame(request("t"))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.INTERNAL);
  });

  it("serves a call well within its deadline", async () => {
    const reply = await h2call(session, { headers: { "grpc-timeout": "5S" }, body: [frame(request("t"))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
  });

  it("answers DEADLINE_EXCEEDED, and counts nothing, when the deadline passes before the request is complete", async () => {
    const slow = await h2call(session, {
      headers: { "grpc-timeout": "30m" },
      body: [frame(request("deadline")).subarray(0, 3)],
      end: false,
    });
    expect(grpcStatus(slow)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(await remainingAfterHit("deadline")).toBe(4);
  });

  it("answers DEADLINE_EXCEEDED without counting when the deadline is already over on arrival", async () => {
    const reply = await h2call(session, { headers: { "grpc-timeout": "0n" }, body: [frame(request("zero"))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(await remainingAfterHit("zero")).toBe(4);
  });
});

describe("client resets and broken connections", () => {
  it.each([
    ["CANCEL", constants.NGHTTP2_CANCEL],
    ["INTERNAL_ERROR", constants.NGHTTP2_INTERNAL_ERROR],
  ])("survives RST_STREAM %s mid-request and right after the request", async (_name, code) => {
    const headers = { ":method": "POST", ":path": RLS_PATH, "content-type": "application/grpc" };
    const partial = session.request(headers, { endStream: false });
    partial.on("error", () => {});
    partial.write(frame(request("reset")).subarray(0, 4));
    partial.close(code);
    const full = session.request(headers, { endStream: false });
    full.on("error", () => {});
    full.end(frame(request("reset")));
    full.close(code);
    await new Promise((r) => setTimeout(r, 50));
  });

  it.each([
    ["an HTTP/1.1 request instead of the preface", Buffer.from("POST / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["random bytes", Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))],
    [
      "DATA on stream 0 after a valid preface",
      Buffer.concat([PREFACE, rawFrame(4, 0, 0), rawFrame(0, 0, 0, Buffer.from([1]))]),
    ],
    ["an oversized SETTINGS frame", Buffer.concat([PREFACE, rawFrame(4, 0, 0, Buffer.alloc(7))])],
    [
      "HEADERS with a garbage header block",
      Buffer.concat([PREFACE, rawFrame(4, 0, 0), rawFrame(1, 0x5, 1, Buffer.from([0xff, 0xff, 0xff, 0xff]))]),
    ],
  ])("ends only the connection that sent %s", async (_name, bytes) => {
    const afterPreface = bytes.subarray(0, PREFACE.length).equals(PREFACE);
    const { received, closed } = await sendRaw(h.service.ports.grpc, bytes, { untilGoaway: afterPreface });
    // A bad preface closes the socket at once; a protocol error after it is answered with GOAWAY (node then waits
    // for the peer to hang up; the liveness PINGs close it otherwise: h2-grpc-lifecycle.test.ts).
    if (afterPreface) expect(frameTypes(received)).toContain(GOAWAY);
    else expect(closed).toBe(true);
  });
});

describe("grpc-timeout with a Redis call in flight", () => {
  const farm = createRedisFarm();
  afterAll(() => farm.stopAll());

  it("answers DEADLINE_EXCEEDED at the deadline; the store op still completes once, so counts stay exact", async () => {
    const redis = await farm.start();
    const r = await startHarness({
      rules: { "config.yaml": RULES },
      env: { BACKEND_TYPE: "redis", REDIS_SOCKET_TYPE: "tcp", REDIS_URL: redis.address, REDIS_TIMEOUT: "3s" },
    });
    const client = await h2connect(r.grpcTarget);
    try {
      const hit = () => h2call(client, { body: [frame(request("redis"))] });
      expect(grpcStatus(await hit())).toBe(GrpcStatus.OK); // 4 left
      redis.pause();
      const t0 = performance.now();
      const late = await h2call(client, { headers: { "grpc-timeout": "150m" }, body: [frame(request("redis"))] });
      expect(grpcStatus(late)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
      expect(performance.now() - t0).toBeLessThan(1_000);
      redis.resume();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const after = await hit();
      expect(RateLimitResponse.decode(after.data.subarray(5)).statuses[0]?.limitRemaining).toBe(2);
    } finally {
      redis.resume();
      client.close();
      await r.close();
    }
  });
});
