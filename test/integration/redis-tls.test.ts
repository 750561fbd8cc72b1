/**
 * REDIS_TLS against a real TLS-only redis-server whose certificate comes from a throwaway test CA (openssl), with
 * client certificates required (mutual TLS).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SettingsError, StoreUnavailableError } from "../../src/domain/errors.js";
import { createRedisStore, type RedisCounterStore } from "../../src/store/redis/redis-store.js";
import { makeOp, makeSuiteClock } from "../contract/counter-store.contract.js";
import { createLogSink } from "../helpers/log-sink.js";
import {
  createRedisFarm,
  type RedisServer,
  redisSettingsFrom,
  type TestCa,
  waitConnected,
} from "../helpers/redis-servers.js";

const farm = createRedisFarm();
let ca: TestCa;
let server: RedisServer;

beforeAll(async () => {
  ca = await farm.makeCa();
  server = await farm.start({ tls: ca });
});
afterAll(() => farm.stopAll());

function tlsEnv(extra: Record<string, string>): Record<string, string> {
  return {
    REDIS_SOCKET_TYPE: "tcp",
    REDIS_TLS_CACERT: ca.caCert,
    REDIS_TLS_CLIENT_CERT: ca.clientCert,
    REDIS_TLS_CLIENT_KEY: ca.clientKey,
    REDIS_TIMEOUT: "1s",
    ...extra,
  };
}

function storeFrom(env: Record<string, string>, logger = createLogSink("warn").logger): RedisCounterStore {
  const settings = redisSettingsFrom(env);
  return createRedisStore({ endpoint: settings.main, clock: makeSuiteClock(), logger, expirationJitterMaxSeconds: 0 });
}

async function expectCounts(store: RedisCounterStore, label: string): Promise<void> {
  await waitConnected(store);
  const op = makeOp(makeSuiteClock(), `tls_${label}`, 2);
  expect((await store.apply([op, op])).map((v) => v.used)).toEqual([2, 4]);
  expect(await server.cli("GET", op.key)).toBe("4");
  await store.close();
}

/** Gives a store that must not connect some time to try, then checks that it still has not. */
async function expectNoConnection(store: RedisCounterStore): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
  expect(store.connected()).toBe(false);
  await expect(store.apply([makeOp(makeSuiteClock(), "tls_never", 1)])).rejects.toBeInstanceOf(StoreUnavailableError);
  await store.close();
}

describe("Redis over TLS", () => {
  it("connects with a rediss:// URL, the test CA and a client certificate", async () => {
    await expectCounts(storeFrom(tlsEnv({ REDIS_URL: `rediss://${server.address}` })), "url");
  });

  it("connects with REDIS_TLS=true and a host:port REDIS_URL", async () => {
    await expectCounts(storeFrom(tlsEnv({ REDIS_URL: server.address, REDIS_TLS: "true" })), "flag");
  });

  it("refuses a server its CA does not vouch for, and says why in the log", async () => {
    const sink = createLogSink("warn");
    const { REDIS_TLS_CACERT: _ca, ...withoutCa } = tlsEnv({ REDIS_URL: server.address, REDIS_TLS: "true" });
    await expectNoConnection(storeFrom(withoutCa, sink.logger));
    expect(JSON.stringify(sink.lines)).toMatch(/certificate/i);
  });

  it("checks the host name unless REDIS_TLS_SKIP_HOSTNAME_VERIFICATION=true", async () => {
    // The server certificate is valid for 127.0.0.1 only, so "localhost" does not match it.
    const byName = tlsEnv({ REDIS_URL: `localhost:${server.port}`, REDIS_TLS: "true" });
    await expectNoConnection(storeFrom(byName));
    await expectCounts(storeFrom({ ...byName, REDIS_TLS_SKIP_HOSTNAME_VERIFICATION: "true" }), "skip");
  });

  it("fails at startup, naming the variable, when a TLS file cannot be read", () => {
    const env = tlsEnv({ REDIS_URL: server.address, REDIS_TLS: "true", REDIS_TLS_CACERT: `${ca.dir}/missing.crt` });
    expect(() => storeFrom(env)).toThrow(SettingsError);
    expect(() => storeFrom(env)).toThrow(/REDIS_TLS_CACERT=.*missing\.crt/);
  });
});
