/**
 * ShouldRateLimit and grpc.health.v1 over real gRPC with two clients: ours (ts-proto, src/gen) and an independent
 * one built by @grpc/proto-loader from the official upstream Envoy protos shipped in @grpc/grpc-js-xds, sending the
 * request shapes Envoy sends. The upstream proto set predates WEEK and descriptor-level hits_addend, so those are
 * covered with our client.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  type RateLimitRequest,
  type RateLimitResponse,
  RateLimitServiceClient,
  RateLimitResponse_RateLimit_Unit as Unit,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { RateLimitUnit } from "../../src/gen/envoy/type/v3/ratelimit_unit.js";
import { HealthClient, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { type Harness, startHarness } from "../helpers/service.js";

const RULES = `domain: test
descriptors:
  - key: user
    rate_limit:
      name: per-user
      unit: hour
      requests_per_unit: 3
  - key: weekly
    rate_limit:
      name: per-week
      unit: week
      requests_per_unit: 2
  - key: free
    rate_limit:
      unlimited: true
  - key: generic_key
    value: route-a
    descriptors:
      - key: remote_address
        rate_limit:
          unit: minute
          requests_per_unit: 2
`;

// FakeClock's default instant, 1_700_000_040 s: 840 s into its hour, at a minute boundary, 512_040 s into its week.
const HOUR_RESET = 3600 - 840;
const WEEK_RESET = 604_800 - 512_040;

let h: Harness;
let ours: RateLimitServiceClient;

beforeAll(async () => {
  h = await startHarness({
    rules: { "config.yaml": RULES },
    clock: new FakeClock(),
    env: { LIMIT_RESPONSE_HEADERS_ENABLED: "true", RESPONSE_DYNAMIC_METADATA: "true" },
  });
  ours = new RateLimitServiceClient(h.grpcTarget, credentials.createInsecure());
});

afterAll(async () => {
  ours?.close();
  await h?.close();
});

function call(client: RateLimitServiceClient, request: Partial<RateLimitRequest>): Promise<RateLimitResponse> {
  const full: RateLimitRequest = { domain: "", descriptors: [], hitsAddend: 0, ...request };
  return new Promise((resolve, reject) => {
    client.shouldRateLimit(full, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function entry(key: string, value: string) {
  return { key, value };
}

function descriptor(entries: { key: string; value: string }[], extra: object = {}) {
  return { entries, limit: undefined, hitsAddend: undefined, isNegativeHits: false, ...extra };
}

async function expectStatus(p: Promise<unknown>, code: status, details?: RegExp): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  expect(err, "expected the call to fail").toBeDefined();
  expect(status[err?.code ?? 0]).toBe(status[code]);
  if (details) expect(err?.details).toMatch(details);
}

describe("ShouldRateLimit (ts-proto client)", () => {
  it("counts down and answers OVER_LIMIT with the reference's DescriptorStatus fields", async () => {
    const req = { domain: "test", descriptors: [descriptor([entry("user", "alice")])] };
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call(ours, req);
      expect(res.overallCode).toBe(Code.OK);
      remaining.push(res.statuses[0]?.limitRemaining ?? -1);
    }
    expect(remaining).toEqual([2, 1, 0]);
    const over = await call(ours, req);
    expect(over.overallCode).toBe(Code.OVER_LIMIT);
    expect(over.statuses).toEqual([
      {
        code: Code.OVER_LIMIT,
        currentLimit: { name: "per-user", requestsPerUnit: 3, unit: Unit.HOUR },
        limitRemaining: 0,
        durationUntilReset: { seconds: BigInt(HOUR_RESET), nanos: 0 },
        quota: undefined,
      },
    ]);
  });

  it("answers WEEK limits with the response enum's WEEK = 7", async () => {
    const res = await call(ours, { domain: "test", descriptors: [descriptor([entry("weekly", "w1")])] });
    expect(res.statuses[0]?.currentLimit).toEqual({ name: "per-week", requestsPerUnit: 2, unit: Unit.WEEK });
    expect(res.statuses[0]?.durationUntilReset?.seconds).toBe(BigInt(WEEK_RESET));
  });

  it("checks without counting when the descriptor hits_addend is 0", async () => {
    const check = { domain: "test", descriptors: [descriptor([entry("user", "bob")], { hitsAddend: 0n })] };
    for (let i = 0; i < 5; i++) expect((await call(ours, check)).statuses[0]?.limitRemaining).toBe(3);
    const counted = await call(ours, { domain: "test", descriptors: [descriptor([entry("user", "bob")])] });
    expect(counted.statuses[0]?.limitRemaining).toBe(2);
  });

  it("uses the request hits_addend unless the descriptor overrides it", async () => {
    const res = await call(ours, {
      domain: "test",
      hitsAddend: 2,
      descriptors: [descriptor([entry("user", "carol")]), descriptor([entry("user", "dave")], { hitsAddend: 1n })],
    });
    expect(res.statuses.map((s) => s.limitRemaining)).toEqual([1, 2]);
  });

  it("answers a huge hits_addend with OVER_LIMIT, not an error", async () => {
    const res = await call(ours, {
      domain: "test",
      descriptors: [descriptor([entry("user", "eve")], { hitsAddend: 2n ** 64n - 1n })],
    });
    expect(res.overallCode).toBe(Code.OVER_LIMIT);
  });

  it("answers unlimited rules OK with uint32-max remaining and no limit", async () => {
    const res = await call(ours, { domain: "test", descriptors: [descriptor([entry("free", "x")])] });
    expect(res.statuses[0]).toMatchObject({ code: Code.OK, currentLimit: undefined, limitRemaining: 4_294_967_295 });
  });

  it("answers an unknown domain OK with empty statuses per descriptor", async () => {
    const res = await call(ours, { domain: "nope", descriptors: [descriptor([entry("a", "b")]), descriptor([])] });
    expect(res.overallCode).toBe(Code.OK);
    expect(res.statuses).toHaveLength(2);
    expect(res.statuses[0]).toMatchObject({ code: Code.OK, currentLimit: undefined, limitRemaining: 0 });
  });

  it("honours a request limit override", async () => {
    const req = {
      domain: "test",
      descriptors: [descriptor([entry("override", "o1")], { limit: { requestsPerUnit: 1, unit: RateLimitUnit.DAY } })],
    };
    expect((await call(ours, req)).overallCode).toBe(Code.OK);
    const over = await call(ours, req);
    expect(over.overallCode).toBe(Code.OVER_LIMIT);
    expect(over.statuses[0]?.currentLimit).toMatchObject({ requestsPerUnit: 1, unit: Unit.DAY });
  });

  it("adds the RateLimit-* response headers and dynamic metadata when enabled", async () => {
    const res = await call(ours, { domain: "test", descriptors: [descriptor([entry("user", "frank")])] });
    const headers = Object.fromEntries(res.responseHeadersToAdd.map((x) => [x.key, x.value]));
    expect(headers).toMatchObject({ "RateLimit-Remaining": "2", "RateLimit-Reset": String(HOUR_RESET) });
    expect(headers["RateLimit-Limit"]).toMatch(/^3/);
    expect(res.dynamicMetadata).toMatchObject({ domain: "test" });
  });

  it.each([
    ["an empty domain", { domain: "", descriptors: [descriptor([entry("user", "x")])] }, /domain must not be empty/],
    ["no descriptors", { domain: "test", descriptors: [] }, /descriptor list must not be empty/],
    [
      "an override with UNKNOWN unit",
      {
        domain: "test",
        descriptors: [descriptor([entry("user", "x")], { limit: { requestsPerUnit: 1, unit: RateLimitUnit.UNKNOWN } })],
      },
      /limit\.unit/,
    ],
  ])("answers INVALID_ARGUMENT for %s", async (_name, req, details) => {
    await expectStatus(call(ours, req), status.INVALID_ARGUMENT, details);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Independent client: official upstream protos, field names as on the wire (keepCase), as Envoy sends them.

interface UpstreamClient extends grpc.Client {
  ShouldRateLimit(req: object, cb: (err: ServiceError | null, res: UpstreamResponse) => void): void;
}
interface UpstreamStatus {
  code: string;
  current_limit: { requests_per_unit: number; unit: string; name?: string } | null;
  limit_remaining: number;
  duration_until_reset: { seconds: string; nanos: number } | null;
}
interface UpstreamResponse {
  overall_code: string;
  statuses: UpstreamStatus[];
  response_headers_to_add: { key: string; value: string }[];
  dynamic_metadata: { fields: Record<string, { stringValue?: string }> } | null;
}

function upstreamClient(target: string): UpstreamClient {
  const deps = "node_modules/@grpc/grpc-js-xds/deps";
  const definition = protoLoader.loadSync("envoy/service/ratelimit/v3/rls.proto", {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [`${deps}/envoy-api`, `${deps}/xds`, `${deps}/googleapis`, `${deps}/protoc-gen-validate`],
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: {
      service: {
        ratelimit: { v3: { RateLimitService: new (t: string, c: grpc.ChannelCredentials) => UpstreamClient } };
      };
    };
  };
  return new pkg.envoy.service.ratelimit.v3.RateLimitService(target, credentials.createInsecure());
}

describe("ShouldRateLimit (independent client from the official Envoy protos)", () => {
  let envoy: UpstreamClient;
  beforeAll(() => {
    envoy = upstreamClient(h.grpcTarget);
  });
  afterAll(() => envoy?.close());

  const ask = (req: object): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => envoy.ShouldRateLimit(req, (err, res) => (err ? reject(err) : resolve(res))));

  it("decodes an Envoy-shaped request and encodes a response Envoy can read", async () => {
    // Envoy's HTTP filter: generic_key + remote_address actions, hits_addend left unset (proto3 zero).
    const req = {
      domain: "test",
      descriptors: [
        {
          entries: [
            { key: "generic_key", value: "route-a" },
            { key: "remote_address", value: "10.0.0.1" },
          ],
        },
      ],
    };
    const first = await ask(req);
    expect(first.overall_code).toBe("OK");
    expect(first.statuses).toHaveLength(1);
    expect(first.statuses[0]).toMatchObject({
      code: "OK",
      current_limit: { requests_per_unit: 2, unit: "MINUTE" },
      limit_remaining: 1,
      duration_until_reset: { seconds: "60", nanos: 0 },
    });
    await ask(req);
    const third = await ask(req);
    expect(third.overall_code).toBe("OVER_LIMIT");
    expect(third.statuses[0]).toMatchObject({ code: "OVER_LIMIT", limit_remaining: 0 });
  });

  it("reads current_limit.name, response headers and the dynamic_metadata Struct", async () => {
    const res = await ask({ domain: "test", descriptors: [{ entries: [{ key: "user", value: "grace" }] }] });
    expect(res.statuses[0]?.current_limit).toMatchObject({ requests_per_unit: 3, unit: "HOUR", name: "per-user" });
    expect(res.response_headers_to_add.map((x) => x.key)).toEqual(
      expect.arrayContaining(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]),
    );
    // protobufjs ships the well-known types with camelCase field names, whatever keepCase says.
    expect(res.dynamic_metadata?.fields["domain"]?.stringValue).toBe("test");
  });

  it("honours the request hits_addend and a limit override from dynamic metadata", async () => {
    const res = await ask({
      domain: "test",
      hits_addend: 2,
      descriptors: [
        { entries: [{ key: "user", value: "heidi" }] },
        { entries: [{ key: "tenant", value: "t1" }], limit: { requests_per_unit: 5, unit: "SECOND" } },
      ],
    });
    expect(res.statuses.map((s) => s.limit_remaining)).toEqual([1, 3]);
    expect(res.statuses[1]?.current_limit).toMatchObject({ requests_per_unit: 5, unit: "SECOND" });
  });

  it("answers several descriptors in order, one status each", async () => {
    const res = await ask({
      domain: "test",
      descriptors: [
        { entries: [{ key: "unknown", value: "x" }] },
        { entries: [{ key: "free", value: "y" }] },
        { entries: [{ key: "user", value: "ivan" }] },
      ],
    });
    expect(res.statuses.map((s) => [s.code, s.limit_remaining])).toEqual([
      ["OK", 0],
      ["OK", 4_294_967_295],
      ["OK", 2],
    ]);
  });

  it("gets INVALID_ARGUMENT for an empty domain", async () => {
    await expectStatus(
      ask({ domain: "", descriptors: [{ entries: [{ key: "a", value: "b" }] }] }),
      status.INVALID_ARGUMENT,
    );
  });
});

describe("grpc.health.v1", () => {
  let health: HealthClient;
  beforeAll(() => {
    health = new HealthClient(h.grpcTarget, credentials.createInsecure());
  });
  afterAll(() => health?.close());

  const check = (service: string) =>
    new Promise<Serving>((resolve, reject) =>
      health.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
    );

  it.each(["", "ratelimit"])("answers SERVING for service %j", async (service) => {
    expect(await check(service)).toBe(Serving.SERVING);
  });

  it("answers NOT_FOUND for an unknown service", async () => {
    await expectStatus(check("other"), status.NOT_FOUND);
  });

  it("streams the current status on Watch", async () => {
    const stream = health.watch({ service: "" });
    const first = await new Promise<Serving>((resolve, reject) => {
      stream.once("data", (res: { status: Serving }) => resolve(res.status));
      stream.once("error", reject);
    });
    expect(first).toBe(Serving.SERVING);
    stream.cancel();
  });
});

describe("GRPC_UDS", () => {
  it("serves ShouldRateLimit on a unix socket instead of GRPC_HOST:GRPC_PORT", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-uds-"));
    const socket = join(dir, "rls.sock");
    const uds = await startHarness({ rules: { "config.yaml": RULES }, env: { GRPC_UDS: socket } });
    const client = new RateLimitServiceClient(`unix:${socket}`, credentials.createInsecure());
    try {
      expect(uds.service.ports.grpc).toBe(0);
      const res = await call(client, { domain: "test", descriptors: [descriptor([entry("user", "uds")])] });
      expect(res.overallCode).toBe(Code.OK);
    } finally {
      client.close();
      await uds.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("shutdown", () => {
  it("turns Watch streams NOT_SERVING and ends them, so a graceful stop is not held open", async () => {
    const other = await startHarness({ rules: { "config.yaml": RULES } });
    const client = new HealthClient(other.grpcTarget, credentials.createInsecure());
    try {
      const stream = client.watch({ service: "ratelimit" });
      const seen: Serving[] = [];
      const ended = new Promise<void>((resolve) => {
        stream.on("data", (res: { status: Serving }) => seen.push(res.status));
        stream.on("end", resolve);
        stream.on("error", () => resolve());
      });
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await other.close();
      await ended;
      expect(Date.now() - t0).toBeLessThan(1_500);
      expect(seen).toEqual([Serving.SERVING, Serving.NOT_SERVING]);
    } finally {
      client.close();
    }
  });
});

describe("no rules loaded", () => {
  it("answers UNAVAILABLE until a good config loads, then serves it", async () => {
    const bad = await startHarness({ rules: { "config.yaml": "domain: test\nnot_a_key: 1\n" } });
    const client = new RateLimitServiceClient(bad.grpcTarget, credentials.createInsecure());
    try {
      const req = { domain: "test", descriptors: [descriptor([entry("user", "x")])] };
      await expectStatus(call(client, req), status.UNAVAILABLE, /no rate limit configuration loaded/);
      await bad.writeRules(RULES);
      expect((await call(client, req)).statuses[0]?.limitRemaining).toBe(2);
    } finally {
      client.close();
      await bad.close();
    }
  });
});
