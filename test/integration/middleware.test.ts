/**
 * The HTTP middleware on the real frameworks (Express, Fastify, Hono on @hono/node-server) in front of a real Sluice
 * (`node dist/main.js`): 429 with Retry-After and RateLimit-* / X-RateLimit-* headers when limited, the same headers
 * on allowed answers, the client IP through X-Forwarded-For only from trusted proxies, path/method/user/tier and
 * custom descriptors, and the fail-open / fail-closed choice when Sluice is down.
 */
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type SluiceClient } from "../../src/index.js";
import { sluiceHono } from "../../src/middleware/hono.js";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { freePort } from "../helpers/ports.js";
import { type AppOptions, FRAMEWORKS, type RunningApp, startApp } from "../helpers/web-apps.js";

const RULES = `domain: web
descriptors:
  - key: remote_address
    rate_limit: { unit: hour, requests_per_unit: 2, name: per-ip }
  - key: path
    descriptors:
      - key: method
        value: GET
        rate_limit: { unit: hour, requests_per_unit: 1 }
  - key: user
    descriptors:
      - key: tier
        value: free
        rate_limit: { unit: hour, requests_per_unit: 1 }
  - key: api_key
    rate_limit: { unit: hour, requests_per_unit: 1 }
`;

let sluice: RunningSluice;
let client: SluiceClient;
beforeAll(async () => {
  sluice = await startSluice({ rules: { "config.yaml": RULES } });
  client = createClient({ address: sluice.grpc, timeoutMs: 5_000 });
}, 60_000);
afterAll(async () => {
  client?.close();
  await sluice?.stop();
});

async function withApp(
  framework: (typeof FRAMEWORKS)[number],
  options: AppOptions,
  fn: (app: RunningApp) => Promise<void>,
) {
  const app = await startApp(framework, options);
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers });

describe.each(FRAMEWORKS)("%s adapter", (framework) => {
  const n = FRAMEWORKS.indexOf(framework);
  const base = { domain: "web", trustProxy: "loopback" } as const;

  it("adds RateLimit-* headers when allowed and answers 429 with Retry-After when limited", async () => {
    await withApp(framework, { ...base, client, descriptors: [["ip"]] }, async (app) => {
      const ip = { "x-forwarded-for": `10.1.${n}.1` };
      const first = await get(`${app.url}/hello`, ip);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ hello: "world" });
      expect(first.headers.get("ratelimit-limit")).toBe("2");
      expect(first.headers.get("ratelimit-remaining")).toBe("1");
      expect(first.headers.get("x-ratelimit-limit")).toBe("2");
      expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
      const reset = Number(first.headers.get("ratelimit-reset"));
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(3600);
      expect(first.headers.get("retry-after")).toBeNull();
      expect((await get(`${app.url}/hello`, ip)).status).toBe(200);
      const limited = await get(`${app.url}/hello`, ip);
      expect(limited.status).toBe(429);
      const retry = Number(limited.headers.get("retry-after"));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(3600);
      expect(limited.headers.get("ratelimit-remaining")).toBe("0");
      expect(await limited.json()).toEqual({ error: "Too Many Requests", retryAfterSeconds: retry });
      // Another client IP has its own counter.
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": `10.1.${n}.2` })).status).toBe(200);
      // The limited request never reached the route handler.
      expect(app.handled()).toBe(3);
    });
  });

  it("uses X-Forwarded-For only from a trusted proxy", async () => {
    // Each request is counted under the client IP the middleware settled on (1/hour per api_key).
    const seen = (tag: string) => [(f: { ip: string | undefined }) => ({ api_key: `${tag}-${framework}:${f.ip}` })];
    const untrusted = { domain: "web", client, descriptors: seen("untrusted"), trustProxy: "10.0.0.0/8" };
    await withApp(framework, untrusted, async (app) => {
      // The socket peer 127.0.0.1 is not a trusted proxy: the header is not believed, both count for 127.0.0.1.
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": "10.2.0.1" })).status).toBe(200);
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": "10.2.0.2" })).status).toBe(429);
    });
    await withApp(framework, { ...base, client, descriptors: seen("trusted") }, async (app) => {
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": "10.2.0.1" })).status).toBe(200);
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": "10.2.0.2" })).status).toBe(200);
      expect((await get(`${app.url}/hello`, { "x-forwarded-for": "192.0.2.9, 10.2.0.2" })).status).toBe(429);
    });
  });

  it("limits by path and method, and by user and tier (skipped for anonymous requests)", async () => {
    const descriptors = [
      ["path", "method"],
      ["user", "tier"],
    ] as const;
    await withApp(framework, { ...base, client, descriptors }, async (app) => {
      const user = { "x-user": `alice-${framework}`, "x-tier": "free" };
      expect((await get(`${app.url}/items/a-${framework}`, user)).status).toBe(200);
      // The per-endpoint limit (1/hour) is shared by every caller of GET /items/a-... ...
      expect((await get(`${app.url}/items/a-${framework}`)).status).toBe(429);
      // ... the free tier's 1/hour applies to this user only; anonymous requests have no user descriptor.
      expect((await get(`${app.url}/items/b-${framework}`, user)).status).toBe(429);
      expect((await get(`${app.url}/items/c-${framework}`)).status).toBe(200);
      const bob = { "x-user": `bob-${framework}`, "x-tier": "free" };
      expect((await get(`${app.url}/items/d-${framework}`, bob)).status).toBe(200);
    });
  });

  it("takes a custom descriptor function", async () => {
    const descriptors = [
      (f: { header(n: string): string | undefined }) => {
        const key = f.header("X-Api-Key");
        return key === undefined ? undefined : { api_key: key };
      },
    ];
    await withApp(framework, { ...base, client, descriptors }, async (app) => {
      const key = { "x-api-key": `k-${framework}` };
      expect((await get(`${app.url}/hello`, key)).status).toBe(200);
      expect((await get(`${app.url}/hello`, key)).status).toBe(429);
      expect((await get(`${app.url}/hello`)).status).toBe(200);
    });
  });

  it("hits counts several per request; headers: false leaves only Retry-After", async () => {
    const options = { ...base, client, descriptors: [["ip"]] as const, hits: 2, headers: false };
    await withApp(framework, options, async (app) => {
      const ip = { "x-forwarded-for": `10.4.${n}.1` };
      const first = await get(`${app.url}/hello`, ip);
      expect(first.status).toBe(200);
      expect(first.headers.get("ratelimit-limit")).toBeNull();
      expect(first.headers.get("x-ratelimit-remaining")).toBeNull();
      const limited = await get(`${app.url}/hello`, ip); // 2 + 2 > 2
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get("ratelimit-remaining")).toBeNull();
    });
  });

  it("answers 503 when Sluice is down and failing closed, passes when failing open", async () => {
    const down = createClient({ address: `127.0.0.1:${await freePort()}`, timeoutMs: 2_000 });
    try {
      await withApp(framework, { ...base, client: down, descriptors: [["ip"]] }, async (app) => {
        const r = await get(`${app.url}/hello`);
        expect(r.status).toBe(503);
        expect(await r.json()).toEqual({ error: "rate limit service unavailable" });
      });
      await withApp(framework, { ...base, client: down, descriptors: [["ip"]], failOpen: true }, async (app) => {
        const r = await get(`${app.url}/hello`);
        expect(r.status).toBe(200);
        expect(r.headers.get("ratelimit-limit")).toBeNull();
      });
    } finally {
      down.close();
    }
  });
});

describe("hono remoteAddress option", () => {
  it("takes the socket peer from the given function (runtimes other than @hono/node-server)", async () => {
    const app = new Hono();
    const seen = (f: { ip: string | undefined }) => ({ api_key: `hono-remote:${f.ip}` });
    app.use(sluiceHono({ client, domain: "web", descriptors: [seen], remoteAddress: () => "192.0.2.44" }));
    app.get("/", (c) => c.text("ok"));
    expect((await app.request("/")).status).toBe(200);
    expect((await app.request("/")).status).toBe(429);
    expect((await client.check("web", [{ api_key: "hono-remote:192.0.2.44" }])).allowed).toBe(false);
  });
});
