import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SettingsError } from "../../../src/domain/errors.js";
import { parseSettings } from "../../../src/settings/settings.js";

const CWD = "/srv/sluice";
const dir = mkdtempSync(join(tmpdir(), "sluice-settings-"));
const file = (name: string): string => {
  const path = join(dir, name);
  writeFileSync(path, "pem");
  return path;
};
const CERT = file("tls.crt");
const KEY = file("tls.key");
const CA = file("ca.crt");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(env: Record<string, string>): readonly string[] {
  try {
    parseSettings(env, CWD);
  } catch (err) {
    if (err instanceof SettingsError) return err.problems;
    throw err;
  }
  return [];
}

describe("parseSettings(): CONFIG_TYPE and the xDS client", () => {
  it("reads files only by default, with no xDS settings", () => {
    const s = parseSettings({}, CWD);
    expect(s.configSources).toEqual(["FILE"]);
    expect(s.xds).toBeUndefined();
    expect(s.forceStartWithoutInitialConfig).toBe(false);
  });

  it("uses the reference's xDS defaults", () => {
    const s = parseSettings({ CONFIG_TYPE: "GRPC_XDS_SOTW" }, CWD);
    expect(s.configSources).toEqual(["GRPC_XDS_SOTW"]);
    expect(s.xds).toEqual({
      nodeId: "default",
      nodeMetadata: {},
      serverUrl: "localhost:18000",
      connectRetryIntervalMs: 3_000,
      additionalHeaders: {},
      tls: undefined,
      backoff: { initialMs: 10_000, maxMs: 60_000, randomFactor: 0.5, jitter: true },
      maxMessageBytes: 64 * 1024 * 1024,
    });
  });

  it("reads Envoy Gateway's environment", () => {
    const s = parseSettings(
      {
        CONFIG_TYPE: "GRPC_XDS_SOTW",
        CONFIG_GRPC_XDS_SERVER_URL: "envoy-gateway:18001",
        CONFIG_GRPC_XDS_NODE_ID: "envoy-ratelimit",
        FORCE_START_WITHOUT_INITIAL_CONFIG: "true",
        CONFIG_GRPC_XDS_SERVER_USE_TLS: "true",
        CONFIG_GRPC_XDS_CLIENT_TLS_CERT: CERT,
        CONFIG_GRPC_XDS_CLIENT_TLS_KEY: KEY,
        CONFIG_GRPC_XDS_SERVER_TLS_CACERT: CA,
        GRPC_SERVER_USE_TLS: "true",
        GRPC_SERVER_TLS_CERT: CERT,
        GRPC_SERVER_TLS_KEY: KEY,
        GRPC_SERVER_TLS_CA_CERT: CA,
      },
      CWD,
    );
    expect(s.forceStartWithoutInitialConfig).toBe(true);
    expect(s.xds).toMatchObject({
      serverUrl: "envoy-gateway:18001",
      nodeId: "envoy-ratelimit",
      tls: { clientCertFile: CERT, clientKeyFile: KEY, caCertFile: CA, serverSan: undefined },
    });
    expect(s.grpc.tls).toEqual({ certFile: CERT, keyFile: KEY, clientCaFile: CA, clientSan: undefined });
  });

  it("takes both sources, node metadata as k=v or k:v, headers lowercased, and every XDS_CLIENT_* knob", () => {
    const s = parseSettings(
      {
        CONFIG_TYPE: "file, grpc_xds_sotw",
        CONFIG_GRPC_XDS_NODE_METADATA: "zone=eu-1,team:edge,url=http://x",
        CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS: "X-Tenant:blue,authorization:Bearer a:b",
        CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL: "500ms",
        XDS_CLIENT_BACKOFF_INITIAL_INTERVAL: "1s",
        XDS_CLIENT_BACKOFF_MAX_INTERVAL: "30s",
        XDS_CLIENT_BACKOFF_RANDOM_FACTOR: "0.2",
        XDS_CLIENT_BACKOFF_JITTER: "false",
        XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES: "104857600",
      },
      CWD,
    );
    expect(s.configSources).toEqual(["FILE", "GRPC_XDS_SOTW"]);
    expect(s.xds).toMatchObject({
      nodeMetadata: { zone: "eu-1", team: "edge", url: "http://x" },
      additionalHeaders: { "x-tenant": "blue", authorization: "Bearer a:b" },
      connectRetryIntervalMs: 500,
      backoff: { initialMs: 1_000, maxMs: 30_000, randomFactor: 0.2, jitter: false },
      maxMessageBytes: 104_857_600,
    });
  });

  it.each([
    [{ CONFIG_TYPE: "CONSUL" }, 'CONFIG_TYPE="CONSUL" is not FILE, GRPC_XDS_SOTW or FILE,GRPC_XDS_SOTW'],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_NODE_METADATA: "zone" },
      'CONFIG_GRPC_XDS_NODE_METADATA: "zone" is not key=value',
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS: "grpc-timeout:1S" },
      'CONFIG_GRPC_XDS_CLIENT_ADDITIONAL_HEADERS: "grpc-timeout" is not a usable gRPC metadata key',
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", XDS_CLIENT_BACKOFF_INITIAL_INTERVAL: "2m" },
      "XDS_CLIENT_BACKOFF_MAX_INTERVAL is shorter than XDS_CLIENT_BACKOFF_INITIAL_INTERVAL",
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", XDS_CLIENT_BACKOFF_RANDOM_FACTOR: "2" },
      "XDS_CLIENT_BACKOFF_RANDOM_FACTOR=2 is out of range [0, 1]",
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL: "0" },
      'CONFIG_GRPC_XDS_SERVER_CONNECT_RETRY_INTERVAL="0" is out of range [1ms, 24h]',
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES: "10" },
      "XDS_CLIENT_MAX_MSG_SIZE_IN_BYTES=10 is out of range [1024, 2147483647]",
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_SERVER_TLS_CACERT: CA },
      "CONFIG_GRPC_XDS_SERVER_TLS_CACERT set but CONFIG_GRPC_XDS_SERVER_USE_TLS is not true",
    ],
    [
      { CONFIG_TYPE: "GRPC_XDS_SOTW", CONFIG_GRPC_XDS_SERVER_USE_TLS: "true", CONFIG_GRPC_XDS_CLIENT_TLS_CERT: CERT },
      "CONFIG_GRPC_XDS_CLIENT_TLS_CERT and CONFIG_GRPC_XDS_CLIENT_TLS_KEY must be set together",
    ],
    [
      {
        CONFIG_TYPE: "GRPC_XDS_SOTW",
        CONFIG_GRPC_XDS_SERVER_USE_TLS: "true",
        CONFIG_GRPC_XDS_SERVER_TLS_CACERT: "/nope/ca.crt",
      },
      'CONFIG_GRPC_XDS_SERVER_TLS_CACERT="/nope/ca.crt" cannot be read (ENOENT)',
    ],
  ])("refuses %j", (env, message) => {
    expect(problems(env)).toContain(message);
  });
});

describe("parseSettings(): gRPC server TLS", () => {
  it("is off by default", () => {
    expect(parseSettings({}, CWD).grpc.tls).toBeUndefined();
  });

  it("reads the reference's names, the CA meaning client certificates are required", () => {
    const s = parseSettings(
      {
        GRPC_SERVER_USE_TLS: "true",
        GRPC_SERVER_TLS_CERT: CERT,
        GRPC_SERVER_TLS_KEY: KEY,
        GRPC_CLIENT_TLS_CACERT: CA,
        GRPC_CLIENT_TLS_SAN: "envoy",
      },
      CWD,
    );
    expect(s.grpc.tls).toEqual({ certFile: CERT, keyFile: KEY, clientCaFile: CA, clientSan: "envoy" });
  });

  it("accepts both CA names when they agree", () => {
    const env = { GRPC_SERVER_USE_TLS: "true", GRPC_SERVER_TLS_CERT: CERT, GRPC_SERVER_TLS_KEY: KEY };
    expect(
      parseSettings({ ...env, GRPC_CLIENT_TLS_CACERT: CA, GRPC_SERVER_TLS_CA_CERT: CA }, CWD).grpc.tls?.clientCaFile,
    ).toBe(CA);
  });

  it.each([
    [{ GRPC_SERVER_USE_TLS: "true" }, "GRPC_SERVER_TLS_CERT must be set"],
    [
      { GRPC_SERVER_USE_TLS: "true", GRPC_SERVER_TLS_CERT: "/nope/tls.crt", GRPC_SERVER_TLS_KEY: KEY },
      'GRPC_SERVER_TLS_CERT="/nope/tls.crt" cannot be read (ENOENT)',
    ],
    [
      { GRPC_SERVER_TLS_CERT: CERT, GRPC_CLIENT_TLS_CACERT: CA },
      "GRPC_SERVER_TLS_CERT, GRPC_CLIENT_TLS_CACERT set but GRPC_SERVER_USE_TLS is not true (TLS would be off)",
    ],
    [
      {
        GRPC_SERVER_USE_TLS: "true",
        GRPC_SERVER_TLS_CERT: CERT,
        GRPC_SERVER_TLS_KEY: KEY,
        GRPC_CLIENT_TLS_SAN: "envoy",
      },
      "GRPC_CLIENT_TLS_SAN needs GRPC_CLIENT_TLS_CACERT (client certificates are only requested with a CA)",
    ],
    [
      {
        GRPC_SERVER_USE_TLS: "true",
        GRPC_SERVER_TLS_CERT: CERT,
        GRPC_SERVER_TLS_KEY: KEY,
        GRPC_CLIENT_TLS_CACERT: CA,
        GRPC_SERVER_TLS_CA_CERT: CERT,
      },
      `GRPC_CLIENT_TLS_CACERT and GRPC_SERVER_TLS_CA_CERT name different files (${CA}, ${CERT}); set one`,
    ],
  ])("refuses %j", (env, message) => {
    expect(problems(env)).toContain(message);
  });
});
