/**
 * Hostile or oversized input never crashes the service: every case gets an answer or a clear error status, and the
 * service keeps serving afterwards. Limits are documented in src/transport/grpc/map.ts (REQUEST_LIMITS) and the README.
 */
import { connect } from "node:net";
import { Client, credentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  RateLimitRequest,
  RateLimitResponse,
  RateLimitServiceClient,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { type Harness, startHarness } from "../helpers/service.js";

const RULES = `domain: test
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 1000000
`;
const METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

let h: Harness;
let raw: Client;
let ours: RateLimitServiceClient;

beforeAll(async () => {
  h = await startHarness({ rules: { "config.yaml": RULES } });
  raw = new Client(h.grpcTarget, credentials.createInsecure());
  ours = new RateLimitServiceClient(h.grpcTarget, credentials.createInsecure());
});

afterAll(async () => {
  raw?.close();
  ours?.close();
  await h?.close();
});

/** Sends `bytes` as the request message, exactly as given (identity serializer). */
function sendBytes(bytes: Buffer): Promise<{ err: ServiceError | null; res: Buffer | undefined }> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      METHOD,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err, res) => resolve({ err: err ?? null, res }),
    );
  });
}

interface RequestIn {
  readonly domain: string;
  readonly descriptors?: readonly { readonly entries: readonly { key: string; value: string }[] }[];
}

/** Encodes a request with our generated encoder. */
function encode(r: RequestIn): Buffer {
  const message: RateLimitRequest = {
    domain: r.domain,
    hitsAddend: 0,
    descriptors: (r.descriptors ?? []).map((d) => ({
      entries: d.entries.map((e) => ({ ...e })),
      limit: undefined,
      hitsAddend: undefined,
      isNegativeHits: false,
    })),
  };
  return Buffer.from(RateLimitRequest.encode(message).finish());
}

async function decide(bytes: Buffer): Promise<RateLimitResponse> {
  const { err, res } = await sendBytes(bytes);
  if (err) throw err;
  return RateLimitResponse.decode(res as Buffer);
}

/** The service still answers a normal request over a fresh call. */
async function stillServes(): Promise<void> {
  const res = await new Promise<RateLimitResponse>((resolve, reject) =>
    ours.shouldRateLimit(
      {
        domain: "test",
        hitsAddend: 0,
        descriptors: [{ entries: [{ key: "user", value: "ok" }], isNegativeHits: false }],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    ),
  );
  expect(res.overallCode).toBe(Code.OK);
}

afterEach(async () => {
  await stillServes();
});

describe("gRPC bad input", () => {
  it.each([
    ["random text", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["a truncated length prefix", Buffer.from([0x0a, 0x7f, 0x61])],
    ["an invalid wire type", Buffer.from([0x0b, 0x01])],
    ["all 0xff", Buffer.alloc(64, 0xff)],
    ["a stray end-group tag", Buffer.from([0x0c])],
  ])("answers INVALID_ARGUMENT for garbage bytes: %s", async (_name, bytes) => {
    const { err } = await sendBytes(bytes);
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/malformed RateLimitRequest/);
  });

  it.each([
    ["in the domain", Buffer.concat([Buffer.from([0x0a, 0x02]), Buffer.from([0xc3, 0x28])])],
    [
      "in an entry value",
      (() => {
        const entry = Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x02, 0xff, 0xfe]); // key "k", value ff fe
        const descriptor = Buffer.concat([Buffer.from([0x0a, entry.length]), entry]);
        return Buffer.concat([Buffer.from([0x0a, 0x04, 0x74, 0x65, 0x73, 0x74, 0x12, descriptor.length]), descriptor]);
      })(),
    ],
  ])("answers INVALID_ARGUMENT for non-UTF-8 strings %s", async (_name, bytes) => {
    const { err } = await sendBytes(bytes);
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it("answers 1,000 descriptors with 1,000 statuses", async () => {
    const descriptors = Array.from({ length: 1000 }, (_, i) => ({ entries: [{ key: "user", value: `u${i}` }] }));
    const res = await decide(encode({ domain: "test", descriptors }));
    expect(res.statuses).toHaveLength(1000);
    expect(res.overallCode).toBe(Code.OK);
  });

  it("answers INVALID_ARGUMENT beyond 1,024 descriptors", async () => {
    const descriptors = Array.from({ length: 1025 }, () => ({ entries: [{ key: "user", value: "x" }] }));
    const { err } = await sendBytes(encode({ domain: "test", descriptors }));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/too many descriptors/);
  });

  it("answers a descriptor with 1,000 entries", async () => {
    const entries = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    const res = await decide(encode({ domain: "test", descriptors: [{ entries }] }));
    expect(res.statuses).toHaveLength(1);
  });

  it("answers 64 KiB keys and values", async () => {
    const big = "v".repeat(64 * 1024);
    const res = await decide(encode({ domain: "test", descriptors: [{ entries: [{ key: "user", value: big }] }] }));
    expect(res.statuses[0]?.code).toBe(Code.OK);
    const key = await decide(encode({ domain: "test", descriptors: [{ entries: [{ key: big, value: "x" }] }] }));
    expect(key.overallCode).toBe(Code.OK);
  });

  it("answers empty keys and empty values", async () => {
    const res = await decide(
      encode({ domain: "test", descriptors: [{ entries: [{ key: "", value: "" }] }, { entries: [] }] }),
    );
    expect(res.statuses).toHaveLength(2);
  });

  it("answers RESOURCE_EXHAUSTED for a message over 1 MiB", async () => {
    const { err } = await sendBytes(encode({ domain: "x".repeat(1024 * 1024 + 1) }));
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("answers an empty message (all defaults) with INVALID_ARGUMENT", async () => {
    const { err } = await sendBytes(Buffer.alloc(0));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it("survives a client that resets mid-call", async () => {
    const client = new RateLimitServiceClient(h.grpcTarget, credentials.createInsecure());
    const call = client.shouldRateLimit(
      {
        domain: "test",
        hitsAddend: 0,
        descriptors: [{ entries: [{ key: "user", value: "cancel" }], isNegativeHits: false }],
      },
      () => {},
    );
    call.cancel();
    client.close();
  });
});

describe("HTTP bad input", () => {
  it("answers 400 to a garbage request line and keeps serving", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(h.httpUrl).port), "127.0.0.1", () => {
        socket.write("\x00\x01\x02 NOT HTTP AT ALL\r\n\r\n");
      });
      let data = "";
      socket.on("data", (d) => {
        data += d.toString("latin1");
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    const health = await fetch(`${h.httpUrl}/healthcheck`);
    expect(health.status).toBe(200);
  });

  it("answers malformed JSON with 400 and keeps serving", async () => {
    const res = await fetch(`${h.httpUrl}/json`, { method: "POST", body: "{{{{" });
    expect(res.status).toBe(400);
    const ok = await fetch(`${h.httpUrl}/json`, {
      method: "POST",
      body: JSON.stringify({ domain: "test", descriptors: [{ entries: [{ key: "user", value: "j" }] }] }),
    });
    expect(ok.status).toBe(200);
  });

  it("answers deeply nested JSON without a stack overflow", async () => {
    const nested = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const res = await fetch(`${h.httpUrl}/json`, { method: "POST", body: `{"domain":"test","descriptors":${nested}}` });
    expect([400, 200]).toContain(res.status);
  });
});
