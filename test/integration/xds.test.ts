/**
 * The xDS config source against a real ADS management server (test/helpers/xds-server.ts, grpc-js): versions
 * pushed and ACKed, an invalid one NACKed with the resource and field while the last good rules serve, readiness
 * before the first config, reconnect with backoff after the server goes away, mTLS to the server, and files plus
 * xDS at once.
 */
import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { callError, createEnvoyClient, descriptor, type EnvoyClient } from "../helpers/envoy-client.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";
import { createTestCa, SERVER_SAN, type TestCa } from "../helpers/test-ca.js";
import { startXdsServer, type XdsRateLimitConfig, type XdsServer } from "../helpers/xds-server.js";

let harness: Harness | undefined;
let xds: XdsServer | undefined;
let client: EnvoyClient | undefined;
let ca: TestCa | undefined;

afterEach(async () => {
  client?.close();
  await harness?.close();
  await xds?.close();
  ca?.remove();
  harness = xds = client = ca = undefined;
});

function config(rpu: number, unit = "MINUTE", domain = "gw"): XdsRateLimitConfig {
  return {
    name: `${domain}-config`,
    domain,
    descriptors: [{ key: "route", value: "r1", rate_limit: { ...(unit ? { unit } : {}), requests_per_unit: rpu } }],
  };
}

function xdsEnv(server: XdsServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CONFIG_TYPE: "GRPC_XDS_SOTW",
    CONFIG_GRPC_XDS_SERVER_URL: `127.0.0.1:${server.port}`,
    CONFIG_GRPC_XDS_NODE_ID: "envoy-ratelimit",
    CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL: "100ms",
    XDS_CLIENT_BACKOFF_INITIAL_INTERVAL: "100ms",
    XDS_CLIENT_BACKOFF_MAX_INTERVAL: "400ms",
    ...extra,
  };
}

async function limitOf(domain = "gw"): Promise<number | undefined> {
  const res = await client?.ask({ domain, descriptors: [descriptor("route", "r1")] });
  return res?.statuses[0]?.current_limit?.requests_per_unit;
}

async function health(): Promise<number> {
  return (await fetch(`${harness?.httpUrl}/healthcheck`)).status;
}

async function stat(name: string): Promise<number> {
  const text = await (await fetch(`${harness?.debugUrl}/stats`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}: `));
  return Number(line?.split(": ")[1] ?? Number.NaN);
}

describe("xDS config source (CONFIG_TYPE=GRPC_XDS_SOTW)", () => {
  it("subscribes with the node, metadata and headers, applies each version and ACKs it; NACKs an invalid one", async () => {
    xds = await startXdsServer();
    harness = await startHarness({
      env: xdsEnv(xds, {
        FORCE_START_WITHOUT_INITIAL_CONFIG: "true",
        CONFIG_GRPC_XDS_NODE_METADATA: "zone=eu-1,team:edge",
        CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS: "X-Tenant:blue",
      }),
    });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(() => xds?.requests.length === 1, 10_000);
    const first = xds.requests[0];
    expect(first).toMatchObject({
      version_info: "",
      type_url: "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig",
      response_nonce: "",
      node: { id: "envoy-ratelimit" },
    });
    expect(JSON.stringify(first?.node?.metadata)).toContain('"zone"');
    expect(JSON.stringify(first?.node?.metadata)).toContain('"edge"');
    expect(first?.headers["x-tenant"]).toBe("blue");
    // Forced start: healthy at once, but no decision before the first config.
    expect(await health()).toBe(200);
    expect((await callError(client.ask({ domain: "gw", descriptors: [descriptor("route", "r1")] }))).code).toBe(14);

    const ack1 = await xds.reply(xds.push("1", [config(2)]));
    expect(ack1).toMatchObject({ version_info: "1", error_detail: null });
    const ask = () => client?.ask({ domain: "gw", descriptors: [descriptor("route", "r1")] });
    expect((await ask())?.overall_code).toBe("OK");
    expect((await ask())?.overall_code).toBe("OK");
    expect((await ask())?.overall_code).toBe("OVER_LIMIT");

    const ack2 = await xds.reply(xds.push("2", [config(5)]));
    expect(ack2).toMatchObject({ version_info: "2", error_detail: null });
    expect(await limitOf()).toBe(5);

    const errorsBefore = await stat("ratelimit.service.config_load_error");
    const nack = await xds.reply(xds.push("3", [config(7, "")]));
    expect(nack.version_info).toBe("2");
    expect(nack.error_detail?.code).toBe(3);
    expect(nack.error_detail?.message).toMatch(/^xds:gw-config: descriptors\[0\]\.rate_limit\.unit: missing unit/);
    expect(await limitOf()).toBe(5);
    expect(await stat("ratelimit.service.config_load_error")).toBe(errorsBefore + 1);

    const garbage = await xds.reply(
      xds.pushRaw("4", [
        {
          type_url: "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig",
          value: Buffer.from([0x0a, 0xff]),
        },
      ]),
    );
    expect(garbage.version_info).toBe("2");
    expect(garbage.error_detail?.message).toMatch(/^xds:resources\[0\]: cannot decode RateLimitConfig/);
    const wrongType = await xds.reply(
      xds.pushRaw("5", [{ type_url: "type.googleapis.com/other.Thing", value: Buffer.alloc(0) }]),
    );
    expect(wrongType.error_detail?.message).toMatch(/unexpected resource type "type.googleapis.com\/other.Thing"/);
    expect(await limitOf()).toBe(5);
    expect(harness.logs.some((l) => l["msg"] === "xDS config rejected; keeping previous rules")).toBe(true);
  });

  it("reports not ready and answers UNAVAILABLE until the first config without FORCE_START_WITHOUT_INITIAL_CONFIG", async () => {
    xds = await startXdsServer();
    harness = await startHarness({ env: xdsEnv(xds) });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(() => xds?.requests.length === 1, 10_000);
    expect(await health()).toBe(500);
    expect((await callError(client.ask({ domain: "gw", descriptors: [descriptor("route", "r1")] }))).code).toBe(14);
    await xds.reply(xds.push("1", [config(3)]));
    expect(await health()).toBe(200);
    expect(await limitOf()).toBe(3);
  });

  it("keeps serving the last good rules while the server is away and reconnects with backoff, no hot loop", async () => {
    xds = await startXdsServer({ initial: { version: "1", configs: [config(4)] } });
    const port = xds.port;
    harness = await startHarness({ env: xdsEnv(xds) });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(() => xds?.requests.some((r) => r.version_info === "1") === true, 10_000);
    await xds.close();
    // While it is away, count every connection attempt at a listener that hangs up at once.
    const sockets = new Set<Socket>();
    let attempts = 0;
    const refuser = createServer((s) => {
      attempts++;
      sockets.add(s);
      s.destroy();
    });
    await new Promise<void>((r) => refuser.listen(port, "127.0.0.1", r));
    const awayMs = 2_000;
    await new Promise((r) => setTimeout(r, awayMs));
    expect(await limitOf()).toBe(4);
    await new Promise<void>((r) => refuser.close(() => r()));
    // Delays: 100 ms, then 200, 400, 400 ... ms, each ±50 %: at most about a dozen attempts in 2 s.
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(16);
    xds = await startXdsServer({ port, initial: { version: "2", configs: [config(6)] } });
    await waitFor(async () => (await limitOf()) === 6, 10_000);
    expect(xds.requests.some((r) => r.version_info === "1")).toBe(true);
    expect(harness.logs.some((l) => l["msg"] === "xDS stream ended; reconnecting")).toBe(true);
  });

  it("ends a stream whose response is over XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES and keeps the last good rules", async () => {
    xds = await startXdsServer({ initial: { version: "1", configs: [config(4)] } });
    harness = await startHarness({ env: xdsEnv(xds, { XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES: "4096" }) });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(() => xds?.requests.some((r) => r.version_info === "1") === true, 10_000);
    const big = Array.from({ length: 1000 }, (_, i) => ({
      key: `key-${i}`,
      rate_limit: { unit: "SECOND", requests_per_unit: i + 1 },
    }));
    xds.push("2", [{ name: "big", domain: "gw", descriptors: big }]);
    await waitFor(
      () =>
        harness?.logs.some(
          (l) =>
            l["msg"] === "xDS stream ended; reconnecting" &&
            /RESOURCE_EXHAUSTED|larger than max/.test(JSON.stringify(l["err"])),
        ) === true,
      10_000,
    );
    expect(await limitOf()).toBe(4);
    expect(xds.requests.some((r) => r.version_info === "2")).toBe(false);
  });

  it("connects to the management server over TLS with a client certificate, verifying the server name", async () => {
    ca = await createTestCa();
    const server = await ca.issue("envoy-gateway", "serverAuth", SERVER_SAN);
    const me = await ca.issue("envoy-ratelimit", "clientAuth", "DNS:envoy-ratelimit");
    xds = await startXdsServer({
      tls: { key: server.key, cert: server.cert, ca: ca.ca },
      initial: { version: "7", configs: [config(8)] },
    });
    harness = await startHarness({
      env: xdsEnv(xds, {
        CONFIG_GRPC_XDS_SERVER_URL: `127.0.0.1:${xds.port}`,
        CONFIG_GRPC_XDS_SERVER_USE_TLS: "true",
        CONFIG_GRPC_XDS_CLIENT_TLS_CERT: me.certFile,
        CONFIG_GRPC_XDS_CLIENT_TLS_KEY: me.keyFile,
        CONFIG_GRPC_XDS_SERVER_TLS_CACERT: ca.caFile,
        CONFIG_GRPC_XDS_SERVER_TLS_SAN: "envoy-gateway",
      }),
    });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(() => xds?.requests.some((r) => r.version_info === "7") === true, 10_000);
    expect(await limitOf()).toBe(8);
  });

  it("serves rule files and xDS together, merged by domain; a domain from both is NACKed naming both", async () => {
    xds = await startXdsServer({ initial: { version: "1", configs: [config(2, "MINUTE", "from-xds")] } });
    harness = await startHarness({
      env: xdsEnv(xds, { CONFIG_TYPE: "FILE,GRPC_XDS_SOTW" }),
      rules: {
        "files.yaml":
          "domain: from-files\ndescriptors:\n  - key: route\n    value: r1\n    rate_limit: {unit: minute, requests_per_unit: 9}\n",
      },
    });
    client = createEnvoyClient(harness.grpcTarget);
    await waitFor(
      async () => (await fetch(`${harness?.debugUrl}/rlconfig`).then((r) => r.text())).includes("from-xds"),
      10_000,
    );
    expect(await limitOf("from-files")).toBe(9);
    expect(await limitOf("from-xds")).toBe(2);
    const nack = await xds.reply(xds.push("2", [config(2, "MINUTE", "from-xds"), config(3, "MINUTE", "from-files")]));
    expect(nack.error_detail?.message).toBe(
      "xds:from-files-config: domain: domain 'from-files' is also defined by the file source (files.yaml); a domain must come from one source only",
    );
    expect(await limitOf("from-files")).toBe(9);
  });
});
