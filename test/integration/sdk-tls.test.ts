/**
 * The SDK's `tls` option: a real Sluice behind a TLS-terminating proxy on loopback (node:tls, ALPN h2, client
 * certificates required, as a sidecar in front of the plaintext gRPC port would be). With the private CA and a client
 * certificate the call goes through; trusting only the system CAs it fails as UNAVAILABLE.
 */
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { createServer, type Server } from "node:tls";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createClient, SluiceError } from "../../src/index.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { createRedisFarm, type TestCa } from "../helpers/redis-servers.js";

const RULES = "domain: tls\ndescriptors:\n  - key: user\n    rate_limit: { unit: hour, requests_per_unit: 5 }\n";

const farm = createRedisFarm(); // only for its throwaway CA
let ca: TestCa;
let sluice: RunningSluice;
let proxy: Server;
let address: string;

beforeAll(async () => {
  ca = await farm.makeCa();
  sluice = await startSluice({ rules: { "config.yaml": RULES } });
  const [host, port] = sluice.grpc.split(":") as [string, string];
  proxy = createServer(
    {
      key: await readFile(ca.serverKey),
      cert: await readFile(ca.serverCert),
      ca: await readFile(ca.caCert),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ["h2"],
    },
    (socket) => {
      const upstream = connect(Number(port), host);
      socket.pipe(upstream).pipe(socket);
      const end = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.once("error", end).once("close", end);
      upstream.once("error", end).once("close", end);
    },
  );
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  address = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await sluice?.stop();
  await farm.stopAll();
});

it("calls through TLS with a private CA and a client certificate", async () => {
  const client = createClient({
    address,
    timeoutMs: 5_000,
    tls: {
      ca: await readFile(ca.caCert),
      cert: await readFile(ca.clientCert),
      key: await readFile(ca.clientKey),
    },
  });
  try {
    expect(await client.shouldRateLimit("tls", [{ user: "a" }])).toMatchObject({ allowed: true, remaining: 4 });
  } finally {
    client.close();
  }
});

it("fails as UNAVAILABLE when the server's certificate is not trusted", async () => {
  const client = createClient({ address, timeoutMs: 5_000, tls: true });
  try {
    const err = await client.shouldRateLimit("tls", [{ user: "a" }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe("UNAVAILABLE");
  } finally {
    client.close();
  }
});
