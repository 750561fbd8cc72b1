/**
 * Sluice as Envoy Gateway runs envoyproxy/ratelimit (README "Deploy on Envoy Gateway"; COMPAT 2.1): the built
 * service as a process with EG's environment unchanged except for paths and ports (the `/certs` files in a temp
 * directory, the ADS server and listeners on loopback ports), one certificate serving both the gRPC port and the
 * client side of the xDS mTLS as EG mounts it. It must load its rules over xDS and serve mTLS decisions.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MAPPING_YAML } from "../../src/telemetry/default-mapping.js";
import { callError, createEnvoyClient, descriptor } from "../helpers/envoy-client.js";
import { scrape } from "../helpers/prometheus.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";
import { createTestCa, SERVER_SAN, type TestCa } from "../helpers/test-ca.js";
import { startXdsServer, type XdsServer } from "../helpers/xds-server.js";

let ca: TestCa;
let xds: XdsServer;
let sluice: SluiceProcess | undefined;

beforeAll(async () => {
  buildDist();
  ca = await createTestCa();
  const gateway = await ca.issue("envoy-gateway", "serverAuth", SERVER_SAN);
  xds = await startXdsServer({
    tls: { key: gateway.key, cert: gateway.cert, ca: ca.ca },
    initial: {
      version: "1",
      configs: [
        {
          name: "default/eg/http",
          domain: "default/eg/http",
          descriptors: [
            {
              key: "httproute/default/backend/rule/0/match/0",
              value: "httproute/default/backend/rule/0/match/0",
              descriptors: [{ key: "rule-0-match-0", rate_limit: { unit: "HOUR", requests_per_unit: 2 } }],
            },
          ],
        },
      ],
    },
  });
}, 120_000);
afterAll(async () => {
  await sluice?.stop();
  await xds?.close();
  ca?.remove();
});

describe("Envoy Gateway's environment", () => {
  it("loads the rules over xDS with mTLS and serves decisions over mTLS only", async () => {
    const certs = join(ca.dir, "certs");
    mkdirSync(certs);
    const mine = await ca.issue("envoy-ratelimit", "serverAuth,clientAuth", SERVER_SAN);
    writeFileSync(join(certs, "tls.crt"), mine.cert);
    writeFileSync(join(certs, "tls.key"), mine.key);
    writeFileSync(join(certs, "ca.crt"), ca.ca);
    // EG mounts the reference's statsd_exporter mapping (its statsd_conf.yaml) at /etc/statsd-exporter/conf.yaml.
    const mapper = join(ca.dir, "statsd-exporter-conf.yaml");
    writeFileSync(mapper, DEFAULT_MAPPING_YAML);
    sluice = new SluiceProcess({
      // EG's ratelimit container environment (internal/infrastructure/kubernetes/ratelimit/resource.go).
      RUNTIME_ROOT: "/data",
      RUNTIME_SUBDIRECTORY: "ratelimit",
      RUNTIME_IGNOREDOTFILES: "true",
      RUNTIME_WATCH_ROOT: "false",
      LOG_LEVEL: "info",
      USE_STATSD: "false",
      CONFIG_TYPE: "GRPC_XDS_SOTW",
      CONFIG_GRPC_XDS_SERVER_URL: `127.0.0.1:${xds.port}`,
      CONFIG_GRPC_XDS_NODE_ID: "envoy-ratelimit",
      GRPC_SERVER_USE_TLS: "true",
      GRPC_SERVER_TLS_CERT: join(certs, "tls.crt"),
      GRPC_SERVER_TLS_KEY: join(certs, "tls.key"),
      GRPC_SERVER_TLS_CA_CERT: join(certs, "ca.crt"),
      CONFIG_GRPC_XDS_SERVER_USE_TLS: "true",
      CONFIG_GRPC_XDS_CLIENT_TLS_CERT: join(certs, "tls.crt"),
      CONFIG_GRPC_XDS_CLIENT_TLS_KEY: join(certs, "tls.key"),
      CONFIG_GRPC_XDS_SERVER_TLS_CACERT: join(certs, "ca.crt"),
      FORCE_START_WITHOUT_INITIAL_CONFIG: "true",
      USE_PROMETHEUS: "true",
      PROMETHEUS_ADDR: "127.0.0.1:0", // EG: ":19001"
      PROMETHEUS_MAPPER_YAML: mapper, // EG: "/etc/statsd-exporter/conf.yaml"
      ...LOOPBACK_ENV,
      BACKEND_TYPE: "memory",
    });
    const started = await sluice.started();
    await sluice.waitForLines("xDS rules loaded");
    expect(xds.requests[0]?.node?.id).toBe("envoy-ratelimit");
    expect((await fetch(`http://${started.http}/healthcheck`)).status).toBe(200);

    const envoy = await ca.issue("envoy", "clientAuth", "DNS:envoy");
    const creds = grpc.credentials.createSsl(ca.ca, envoy.key, envoy.cert);
    const client = createEnvoyClient(started.grpc, creds);
    const anonymous = createEnvoyClient(started.grpc, grpc.credentials.createSsl(ca.ca));
    try {
      const request = {
        domain: "default/eg/http",
        descriptors: [
          {
            entries: [
              { key: "httproute/default/backend/rule/0/match/0", value: "httproute/default/backend/rule/0/match/0" },
              { key: "rule-0-match-0", value: "10.0.0.1" },
            ],
          },
        ],
      };
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await client.ask(request)).overall_code);
      expect(codes).toEqual(["OK", "OK", "OVER_LIMIT"]);
      // EG's dashboard reads the reference's metric names on PROMETHEUS_ADDR.
      const metrics = (started as unknown as { metrics: string }).metrics;
      const scraped = await scrape(`http://${metrics}/metrics`);
      const rule = {
        domain: "default/eg/http",
        key1: "httproute/default/backend/rule/0/match/0_httproute/default/backend/rule/0/match/0",
        key2: "rule-0-match-0",
      };
      expect(scraped.value("ratelimit_service_rate_limit_total_hits", rule)).toBe(3);
      expect(scraped.value("ratelimit_service_rate_limit_over_limit", rule)).toBe(1);
      expect((await callError(anonymous.ask({ domain: "x", descriptors: [descriptor("a", "b")] }))).code).toBe(
        grpc.status.UNAVAILABLE,
      );
    } finally {
      client.close();
      anonymous.close();
    }
  });
});
