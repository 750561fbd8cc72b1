/**
 * Every example in examples/ against a real Sluice (`node dist/main.js`) loaded with that example's own rules.yaml,
 * so the documented code and rules work together. The examples import `sluice` by name (mapped to src/ here).
 */
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../examples/hono-api/app.js";
import { createLlmProxy } from "../../examples/llm-budget/proxy.js";
import { createProviderClient } from "../../examples/provider-quotas/provider-client.js";
import { createClient, type SluiceClient, SluiceError, type WaitClock } from "../../src/index.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { REPO } from "../helpers/sluice-process.js";

async function withSluice(example: string) {
  const rules = await readFile(join(REPO, "examples", example, "rules.yaml"), "utf8");
  let sluice: RunningSluice | undefined;
  let client: SluiceClient | undefined;
  beforeAll(async () => {
    sluice = await startSluice({ rules: { "rules.yaml": rules } });
    client = createClient({ address: sluice.grpc, timeoutMs: 5_000 });
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await sluice?.stop();
  });
  return {
    get sluice() {
      return sluice as RunningSluice;
    },
    get client() {
      return client as SluiceClient;
    },
  };
}

describe("examples/hono-api", async () => {
  const s = await withSluice("hono-api");
  let url: string;
  let close: () => void;
  beforeAll(async () => {
    const server = serve({ fetch: createApp({ client: s.client, trustProxy: "loopback" }).fetch, port: 0 });
    await new Promise((resolve) => server.once("listening", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  afterAll(() => close?.());
  const from = (ip: string, init: RequestInit = {}) => ({ ...init, headers: { "x-forwarded-for": ip } });

  it("allows 100 requests a minute per IP, then answers 429 with Retry-After", async () => {
    // 99 of the minute's 100 are used up (as many requests would), so the test does not straddle a minute.
    await s.client.charge("api", [{ remote_address: "10.9.0.1" }], 99);
    const last = await fetch(`${url}/items`, from("10.9.0.1"));
    expect(last.status).toBe(200);
    expect(last.headers.get("ratelimit-limit")).toBe("100");
    expect(last.headers.get("ratelimit-remaining")).toBe("0");
    const limited = await fetch(`${url}/items`, from("10.9.0.1"));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${url}/items`, from("10.9.0.2"))).status).toBe(200);
  });

  it("README: the SDK asks with the same descriptors directly", async () => {
    const r = await s.client.shouldRateLimit("api", [
      { remote_address: "10.9.2.1" },
      { path: "/search", method: "GET" },
    ]);
    expect(r.allowed).toBe(true);
    expect(r.descriptors.map((d) => d.limit?.name)).toEqual(["per-ip", "search-total"]);
    expect(r.limit?.name).toBe("per-ip");
  });

  it("allows 5 logins a minute per IP; search has its own total limit", async () => {
    await s.client.charge("api", [{ path: "/login", method: "POST", remote_address: "10.9.1.1" }], 4);
    expect((await fetch(`${url}/login`, from("10.9.1.1", { method: "POST" }))).status).toBe(200);
    const limited = await fetch(`${url}/login`, from("10.9.1.1", { method: "POST" }));
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ error: "Too Many Requests" });
    // Other endpoints and IPs are unaffected.
    expect((await fetch(`${url}/items`, from("10.9.1.1"))).status).toBe(200);
    expect((await fetch(`${url}/login`, from("10.9.1.2", { method: "POST" }))).status).toBe(200);
    const search = await fetch(`${url}/search?q=x`, from("10.9.1.3"));
    expect(search.status).toBe(200);
    // The closest limit is the per-IP one (99 left) rather than search's 999.
    expect(search.headers.get("ratelimit-remaining")).toBe("99");
    await s.client.charge("api", [{ path: "/search", method: "GET" }], 999);
    expect((await fetch(`${url}/search?q=x`, from("10.9.1.4"))).status).toBe(429);
  });
});

describe("examples/provider-quotas", async () => {
  const s = await withSluice("provider-quotas");

  it("waits for the provider's quota (the retry Sluice reports), then calls", async () => {
    await s.client.charge("providers", [{ provider: "replicate" }], 50); // the minute's 50 are used up
    const sleeps: number[] = [];
    let now = 0;
    const clock: WaitClock = {
      now: () => now,
      random: () => 0,
      async sleep(ms) {
        sleeps.push(ms);
        now += ms;
        await s.client.refund("providers", [{ provider: "replicate" }], 100); // as if the minute had turned
      },
    };
    const sluice = createClient({ address: s.sluice.grpc, timeoutMs: 5_000, clock, jitter: 0 });
    try {
      const providers = createProviderClient({ sluice, maxWaitMs: 120_000 });
      let calls = 0;
      const out = await providers.call("replicate", "stability-ai/sdxl", async () => ++calls);
      expect(out).toBe(1);
      expect(sleeps).toHaveLength(1);
      expect(sleeps[0]).toBeGreaterThanOrEqual(100);
      expect(sleeps[0]).toBeLessThanOrEqual(60_000);
      // fal and google-cloud have their own quotas.
      expect(await providers.call("fal", "fal-ai/flux/dev", async () => "fal")).toBe("fal");
      expect(await providers.call("google-cloud", "gemini", async () => "gc")).toBe("gc");
      expect(sleeps).toHaveLength(1);
    } finally {
      sluice.close();
    }
  });

  it("a model's stricter quota applies on top, and a wait past maxWaitMs fails without calling", async () => {
    await s.client.charge("providers", [{ provider: "replicate", model: "black-forest-labs/flux-pro" }], 10);
    const providers = createProviderClient({ sluice: s.client, maxWaitMs: 50 });
    let calls = 0;
    const err = await providers
      .call("replicate", "black-forest-labs/flux-pro", async () => ++calls)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe("WAIT_TIMEOUT");
    expect(calls).toBe(0);
  });
});

describe("examples/llm-budget", async () => {
  const s = await withSluice("llm-budget");
  // 100k input + 100k output tokens at $3 / $15 per million: $1.80 a call.
  const complete = async (prompt: string) => ({ text: `echo ${prompt}`, inputTokens: 100_000, outputTokens: 100_000 });
  const ask = (app: ReturnType<typeof createLlmProxy>, session: string) =>
    app.request("/v1/complete", {
      method: "POST",
      headers: { "x-session-id": session, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "hi" }),
    });

  it("peeks, calls, charges the real cost; a session stops once its $5 is spent", async () => {
    let upstream = 0;
    const app = createLlmProxy({
      sluice: s.client,
      complete: (p) => {
        upstream++;
        return complete(p);
      },
    });
    const first = await ask(app, "s1");
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({
      text: "echo hi",
      costMicroUsd: 1_800_000,
      sessionRemainingMicroUsd: 3_200_000,
    });
    expect((await ask(app, "s1")).status).toBe(200); // $3.60 spent
    expect((await ask(app, "s1")).status).toBe(200); // $3.60 < $5: allowed, and charged to $5.40
    const over = await ask(app, "s1");
    expect(over.status).toBe(429);
    expect(await over.json()).toEqual({ error: "session budget spent" });
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(upstream).toBe(3);
    expect((await ask(app, "s2")).status).toBe(200); // another session has its own $5
    // The session's day started at its first charge (window_anchor: first_hit), not at midnight.
    const session = await s.client.check("llm", [{ session: "s1" }]);
    expect(session.descriptors[0]?.resetAfterMs).toBeGreaterThan(86_000_000);
    expect(session.descriptors[0]?.limit?.name).toBe("session-5-usd");
  });

  it("a budget spent to the last micro-dollar admits nothing more (budget: true)", async () => {
    const app = createLlmProxy({ sluice: s.client, complete });
    await s.client.charge("llm", [{ session: "s5" }], 5_000_000);
    const over = await ask(app, "s5");
    expect(over.status).toBe(429);
    expect(await over.json()).toEqual({ error: "session budget spent" });
  });

  it("stops every session once the hour's $50 is spent", async () => {
    const app = createLlmProxy({ sluice: s.client, complete });
    const hourly = [{ spend: "all-sessions" }];
    // Leave one micro-dollar of the hour: the peek passes, the call is charged in full past the budget.
    await s.client.charge("llm", hourly, ((await s.client.check("llm", hourly)).remaining ?? 0) - 1);
    expect((await ask(app, "s3")).status).toBe(200);
    const over = await ask(app, "s4");
    expect(over.status).toBe(429);
    expect(await over.json()).toEqual({ error: "hourly budget spent" });
    expect((await s.client.check("llm", hourly)).remaining).toBe(0);
  });
});
