/**
 * Every rule field xDS carries gives the same decisions as the equivalent YAML: one service reads the YAML file,
 * another the same rules as RateLimitConfig resources from a real ADS server; both run on one fake clock and get
 * the same requests, and every response (statuses, limits, resets, quota/shadow effects, dynamic metadata), the
 * /rlconfig dump and the per-rule stats (detailed_metric) must be identical. Sluice's own algorithm keys are
 * YAML-only: rls_conf.proto has no field for them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEnvoyClient, descriptor, type EnvoyClient, type WireDescriptor } from "../helpers/envoy-client.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";
import { startXdsServer, type XdsRateLimitConfig, type XdsServer } from "../helpers/xds-server.js";

const YAML = `domain: eq
descriptors:
  - key: user
    rate_limit: {unit: minute, requests_per_unit: 3, name: per-user}
  - key: user
    value: vip
    rate_limit:
      unit: minute
      requests_per_unit: 5
      name: vip
      replaces: [{name: per-user}]
  - key: path
    value: /api/*
    detailed_metric: true
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: tenant
    descriptors:
      - key: plan
        value: free
        shadow_mode: true
        rate_limit: {unit: hour, requests_per_unit: 1}
      - key: plan
        value: gold
        rate_limit: {unlimited: true}
  - key: quota
    quota_mode: true
    rate_limit: {unit: week, requests_per_unit: 1}
    metadata: {service: {name: svc-2, tier: 3, ratio: 0.5, tags: [a, b], off: null, on: true}}
  - key: day
    rate_limit: {unit: day, requests_per_unit: 2}
  - key: month
    rate_limit: {unit: month, requests_per_unit: 2}
  - key: year
    rate_limit: {unit: year, requests_per_unit: 2}
  - key: free
`;

const XDS: XdsRateLimitConfig = {
  name: "eq",
  domain: "eq",
  descriptors: [
    { key: "user", rate_limit: { unit: "MINUTE", requests_per_unit: 3, name: "per-user" } },
    {
      key: "user",
      value: "vip",
      rate_limit: { unit: "MINUTE", requests_per_unit: 5, name: "vip", replaces: [{ name: "per-user" }] },
    },
    { key: "path", value: "/api/*", detailed_metric: true, rate_limit: { unit: "SECOND", requests_per_unit: 2 } },
    {
      key: "tenant",
      descriptors: [
        { key: "plan", value: "free", shadow_mode: true, rate_limit: { unit: "HOUR", requests_per_unit: 1 } },
        { key: "plan", value: "gold", rate_limit: { unlimited: true } },
      ],
    },
    {
      key: "quota",
      quota_mode: true,
      rate_limit: { unit: "WEEK", requests_per_unit: 1 },
      metadata: { service: { name: "svc-2", tier: 3, ratio: 0.5, tags: ["a", "b"], off: null, on: true } },
    },
    { key: "day", rate_limit: { unit: "DAY", requests_per_unit: 2 } },
    { key: "month", rate_limit: { unit: "MONTH", requests_per_unit: 2 } },
    { key: "year", rate_limit: { unit: "YEAR", requests_per_unit: 2 } },
    { key: "free" },
  ],
};

const ENV = { RESPONSE_DYNAMIC_METADATA: "true", LIMIT_RESPONSE_HEADERS_ENABLED: "true", BACKEND_TYPE: "memory" };
const clock = new FakeClock();
let xds: XdsServer;
let fromFile: Harness;
let fromXds: Harness;
let fileClient: EnvoyClient;
let xdsClient: EnvoyClient;

beforeAll(async () => {
  xds = await startXdsServer({ initial: { version: "1", configs: [XDS] } });
  fromFile = await startHarness({ rules: { "eq.yaml": YAML }, env: ENV, clock });
  fromXds = await startHarness({
    clock,
    env: { ...ENV, CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_SERVER_URL: `127.0.0.1:${xds.port}` },
  });
  await waitFor(() => xds.requests.some((r) => r.version_info === "1"), 10_000);
  fileClient = createEnvoyClient(fromFile.grpcTarget);
  xdsClient = createEnvoyClient(fromXds.grpcTarget);
});
afterAll(async () => {
  fileClient?.close();
  xdsClient?.close();
  await fromFile?.close();
  await fromXds?.close();
  await xds?.close();
});

const text = async (h: Harness, path: string): Promise<string> => (await fetch(`${h.debugUrl}${path}`)).text();

/** Requests covering every field; each is sent several times so limits are reached. */
const CASES: readonly (readonly WireDescriptor[])[] = [
  [descriptor("user", "alice")],
  [descriptor("user", "vip")],
  [descriptor("user", "alice"), descriptor("user", "vip")],
  [descriptor("path", "/api/orders")],
  [descriptor("path", "/api/users")],
  [
    {
      entries: [
        { key: "tenant", value: "t1" },
        { key: "plan", value: "free" },
      ],
    },
  ],
  [
    {
      entries: [
        { key: "tenant", value: "t1" },
        { key: "plan", value: "gold" },
      ],
    },
  ],
  [descriptor("quota", "q1")],
  [descriptor("quota", "q1"), descriptor("day", "d")],
  [descriptor("day", "d")],
  [descriptor("month", "m")],
  [descriptor("year", "y")],
  [descriptor("free", "f")],
  [descriptor("unknown", "u")],
];

describe("xDS rules and YAML rules", () => {
  it("load to the same rule dump", async () => {
    const dump = await text(fromFile, "/rlconfig");
    expect(dump).toContain("eq.quota: unit=WEEK requests_per_unit=1");
    expect(await text(fromXds, "/rlconfig")).toBe(dump);
  });

  it("answer every request identically, round after round, and count the same stats", async () => {
    for (let round = 0; round < 4; round++) {
      for (const descriptors of CASES) {
        const request = { domain: "eq", descriptors };
        const [a, b] = [await fileClient.ask(request), await xdsClient.ask(request)];
        expect(b, JSON.stringify(descriptors)).toEqual(a);
      }
      clock.advance(400);
    }
    const rule = (t: string) =>
      t
        .split("\n")
        .filter((l) => l.startsWith("ratelimit.service.rate_limit.eq."))
        .sort();
    const stats = rule(await text(fromFile, "/stats"));
    expect(stats).toContain("ratelimit.service.rate_limit.eq.path_/api/orders.total_hits: 4");
    expect(rule(await text(fromXds, "/stats"))).toEqual(stats);
  });
});
