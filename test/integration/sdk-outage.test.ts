/**
 * The client SDK when Sluice is not answering: down (nothing listens), slow (a real Sluice process stopped with
 * SIGSTOP, so its socket is open and nothing answers: the per-call deadline ends the call), and restarted on the same
 * port under an open client (the client's channel reconnects, no new client needed). `failOpen` turns the outages
 * into "allowed" results marked `failedOpen`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type SluiceClient, SluiceError } from "../../src/index.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { freePort } from "../helpers/ports.js";
import { waitFor } from "../helpers/service.js";

const RULES = `domain: sdk
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 100 }
`;
const USER = [{ user: "u" }];

async function errorOf(p: Promise<unknown>): Promise<SluiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SluiceError);
  return err as SluiceError;
}

describe("Sluice down", () => {
  let address: string;
  beforeAll(async () => {
    address = `127.0.0.1:${await freePort()}`;
  });

  it("rejects with UNAVAILABLE when failing closed (the default)", async () => {
    const client = createClient({ address, timeoutMs: 5_000 });
    try {
      expect((await errorOf(client.shouldRateLimit("sdk", USER))).code).toBe("UNAVAILABLE");
    } finally {
      client.close();
    }
  });

  it("answers allowed with failedOpen when failing open", async () => {
    const client = createClient({ address, timeoutMs: 5_000, failOpen: true });
    try {
      const r = await client.shouldRateLimit("sdk", USER);
      expect(r).toMatchObject({ allowed: true, failedOpen: true, code: "UNKNOWN", limit: undefined });
      expect(r.descriptors).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});

describe("Sluice slow (process stopped with SIGSTOP)", () => {
  let sluice: RunningSluice;
  beforeAll(async () => {
    sluice = await startSluice({ rules: { "config.yaml": RULES } });
  }, 60_000);
  afterAll(async () => {
    sluice?.child.kill("SIGCONT");
    await sluice?.stop();
  });

  it("ends the call at the deadline with DEADLINE_EXCEEDED, or allows it when failing open; then serves again", async () => {
    const closed = createClient({ address: sluice.grpc, timeoutMs: 300 });
    const open = createClient({ address: sluice.grpc, timeoutMs: 300, failOpen: true });
    try {
      // Connected and answering first, so the stop hits an open connection.
      expect((await closed.shouldRateLimit("sdk", USER, { timeoutMs: 10_000 })).allowed).toBe(true);
      expect((await open.shouldRateLimit("sdk", USER, { timeoutMs: 10_000 })).failedOpen).toBe(false);
      sluice.child.kill("SIGSTOP");
      try {
        expect((await errorOf(closed.shouldRateLimit("sdk", USER))).code).toBe("DEADLINE_EXCEEDED");
        expect(await open.shouldRateLimit("sdk", USER)).toMatchObject({ allowed: true, failedOpen: true });
        // A call in flight to the stopped process ends when its signal aborts, long before its deadline.
        const controller = new AbortController();
        const inFlight = closed.shouldRateLimit("sdk", USER, { timeoutMs: 60_000, signal: controller.signal });
        setImmediate(() => controller.abort(new Error("request cancelled")));
        await expect(inFlight).rejects.toThrow("request cancelled");
      } finally {
        sluice.child.kill("SIGCONT");
      }
      const after = await closed.shouldRateLimit("sdk", USER, { timeoutMs: 10_000 });
      expect(after).toMatchObject({ allowed: true, failedOpen: false });
    } finally {
      closed.close();
      open.close();
    }
  });

  it("an aborted call rejects with the signal's reason", async () => {
    const client = createClient({ address: sluice.grpc, timeoutMs: 10_000 });
    try {
      const controller = new AbortController();
      controller.abort(new Error("caller gave up"));
      await expect(client.shouldRateLimit("sdk", USER, { signal: controller.signal })).rejects.toThrow(
        "caller gave up",
      );
    } finally {
      client.close();
    }
  });
});

describe("Sluice restarted under an open client", () => {
  let port: number;
  let sluice: RunningSluice | undefined;
  let client: SluiceClient;
  const start = async (): Promise<RunningSluice> =>
    startSluice({ rules: { "config.yaml": RULES }, env: { GRPC_PORT: String(port) } });
  beforeAll(async () => {
    port = await freePort();
    sluice = await start();
    client = createClient({ address: `127.0.0.1:${port}`, timeoutMs: 2_000 });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await sluice?.stop();
  });

  it("fails with UNAVAILABLE while it is down and answers again once it is back, on the same client", async () => {
    expect((await client.shouldRateLimit("sdk", USER)).remaining).toBe(99);
    await sluice?.stop();
    sluice = undefined;
    expect((await errorOf(client.shouldRateLimit("sdk", USER))).code).toBe("UNAVAILABLE");
    sluice = await start();
    let answered: number | undefined;
    await waitFor(async () => {
      const r = await client.shouldRateLimit("sdk", USER).catch(() => undefined);
      answered = r?.remaining;
      return r !== undefined;
    }, 15_000);
    // A new process with the memory backend starts counting from zero.
    expect(answered).toBe(99);
  });
});
