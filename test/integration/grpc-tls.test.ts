/**
 * TLS on the gRPC listener with the reference's variables (and Envoy Gateway's GRPC_SERVER_TLS_CA_CERT): server
 * authentication, client certificates required and verified, the client SAN check, certificate rotation on disk
 * without dropping calls, and bad files refused at startup (exit 2).
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { callError, createEnvoyClient, descriptor, type EnvoyClient } from "../helpers/envoy-client.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";
import { createTestCa, type IssuedCert, SERVER_SAN, type TestCa } from "../helpers/test-ca.js";

const RULES = {
  "config.yaml": "domain: tls\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 1000000}\n",
};
const REQUEST = { domain: "tls", descriptors: [descriptor("k", "v")] };

let ca: TestCa;
let otherCa: TestCa;
let server: IssuedCert;
let client: IssuedCert;
let harness: Harness | undefined;
const clients: EnvoyClient[] = [];

beforeAll(async () => {
  ca = await createTestCa();
  otherCa = await createTestCa("Other CA");
  server = await ca.issue("sluice", "serverAuth", SERVER_SAN);
  client = await ca.issue("envoy", "clientAuth", "DNS:envoy.envoy-gateway-system,URI:spiffe://cluster.local/envoy");
});
afterAll(() => {
  ca.remove();
  otherCa.remove();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await harness?.close();
  harness = undefined;
});

function connect(creds: grpc.ChannelCredentials): EnvoyClient {
  const c = createEnvoyClient(harness?.grpcTarget ?? "", creds);
  clients.push(c);
  return c;
}

const tls = (who?: IssuedCert, trust: Buffer = ca.ca) =>
  grpc.credentials.createSsl(trust, who?.key ?? null, who?.cert ?? null);

function tlsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    GRPC_SERVER_USE_TLS: "true",
    GRPC_SERVER_TLS_CERT: server.certFile,
    GRPC_SERVER_TLS_KEY: server.keyFile,
    ...extra,
  };
}

describe("gRPC server TLS (GRPC_SERVER_USE_TLS)", () => {
  it("serves TLS with the configured certificate and refuses cleartext", async () => {
    harness = await startHarness({ rules: RULES, env: tlsEnv() });
    expect((await connect(tls()).ask(REQUEST)).overall_code).toBe("OK");
    expect((await callError(connect(grpc.credentials.createInsecure()).ask(REQUEST))).code).toBe(
      grpc.status.UNAVAILABLE,
    );
    // Not signed by the CA the client trusts: the client refuses the server.
    expect((await callError(connect(tls(undefined, otherCa.ca)).ask(REQUEST))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it.each([["GRPC_CLIENT_TLS_CACERT"], ["GRPC_SERVER_TLS_CA_CERT"]])(
    "requires and verifies client certificates with %s",
    async (name) => {
      harness = await startHarness({ rules: RULES, env: tlsEnv({ [name]: ca.caFile }) });
      expect((await connect(tls(client)).ask(REQUEST)).overall_code).toBe("OK");
      expect((await callError(connect(tls()).ask(REQUEST))).code).toBe(grpc.status.UNAVAILABLE);
      const stranger = await otherCa.issue("stranger", "clientAuth", "DNS:envoy.envoy-gateway-system");
      expect((await callError(connect(tls(stranger)).ask(REQUEST))).code).toBe(grpc.status.UNAVAILABLE);
    },
  );

  it("accepts only client certificates carrying GRPC_CLIENT_TLS_SAN", async () => {
    harness = await startHarness({
      rules: RULES,
      env: tlsEnv({ GRPC_CLIENT_TLS_CACERT: ca.caFile, GRPC_CLIENT_TLS_SAN: "spiffe://cluster.local/envoy" }),
    });
    expect((await connect(tls(client)).ask(REQUEST)).overall_code).toBe("OK");
    const other = await ca.issue("other", "clientAuth", "DNS:other.example");
    expect((await callError(connect(tls(other)).ask(REQUEST))).code).toBe(grpc.status.UNAVAILABLE);
    expect(harness.logs.some((l) => l["msg"] === "gRPC client certificate lacks the required SAN")).toBe(true);
  });

  it("reloads rotated certificates from disk without dropping calls on open connections", async () => {
    const live = { certFile: join(ca.dir, "live.crt"), keyFile: join(ca.dir, "live.key") };
    copyFileSync(server.certFile, live.certFile);
    copyFileSync(server.keyFile, live.keyFile);
    harness = await startHarness({
      rules: RULES,
      env: tlsEnv({ GRPC_SERVER_TLS_CERT: live.certFile, GRPC_SERVER_TLS_KEY: live.keyFile }),
    });
    const old = connect(tls());
    expect((await old.ask(REQUEST)).overall_code).toBe("OK");
    let failures = 0;
    let calls = 0;
    let running = true;
    const loop = (async () => {
      // Bounded, so a failure of this test cannot leave a loop spinning.
      for (let i = 0; running && i < 100_000; i++) {
        await new Promise((r) => setTimeout(r, 5));
        await old.ask(REQUEST).then(
          () => calls++,
          () => failures++,
        );
      }
    })();
    const rotated = await otherCa.issue("sluice", "serverAuth", SERVER_SAN);
    // A half-written rotation (new certificate, old key) is refused and the old pair keeps serving.
    writeFileSync(live.certFile, rotated.cert);
    await waitFor(
      () =>
        harness?.logs.some((l) => l["msg"] === "gRPC TLS reload failed; keeping the previous certificates") === true,
      12_000,
    );
    writeFileSync(live.keyFile, rotated.key);
    await waitFor(() => harness?.logs.some((l) => l["msg"] === "gRPC TLS certificates reloaded") === true, 12_000);
    expect((await connect(tls(undefined, otherCa.ca)).ask(REQUEST)).overall_code).toBe("OK");
    expect((await callError(connect(tls()).ask(REQUEST))).code).toBe(grpc.status.UNAVAILABLE);
    running = false;
    await loop;
    expect(calls).toBeGreaterThan(0);
    expect(failures).toBe(0);
  }, 40_000);
});

describe("gRPC TLS settings at startup", () => {
  beforeAll(() => buildDist(), 120_000);

  it.each([
    [
      "a missing certificate file",
      { GRPC_SERVER_TLS_CERT: "/nonexistent/tls.crt" },
      /GRPC_SERVER_TLS_CERT="\/nonexistent\/tls.crt" cannot be read \(ENOENT\)/,
    ],
    ["a file that is not a certificate", { GRPC_SERVER_TLS_CERT: "KEY_AS_CERT" }, /cannot use the TLS files/],
    [
      "TLS files without GRPC_SERVER_USE_TLS",
      { GRPC_SERVER_USE_TLS: "false" },
      /GRPC_SERVER_TLS_CERT, GRPC_SERVER_TLS_KEY set but GRPC_SERVER_USE_TLS is not true/,
    ],
  ])("exits 2 naming the problem for %s", async (_what, override, message) => {
    const env: Record<string, string> = { ...LOOPBACK_ENV, BACKEND_TYPE: "memory", ...tlsEnv() };
    for (const [k, v] of Object.entries(override)) env[k] = v === "KEY_AS_CERT" ? server.keyFile : v;
    const p = new SluiceProcess(env);
    const exit = await p.exited;
    expect(exit.code).toBe(2);
    expect(p.stderr).toMatch(message);
  });
});
