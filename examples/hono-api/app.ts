/**
 * A Hono API limited by Sluice: 100 requests a minute per client IP, 5 logins a minute per IP, and 1000 searches a
 * minute in total (rules.yaml). This replaces the usual hand-written "INCR ip; EXPIRE ip 60" limiter: the window,
 * the expiry and the shared count across instances are Sluice's job, and limited callers get a 429 with Retry-After
 * and RateLimit-* headers.
 *
 * Run it (Node, with @hono/node-server):
 *   const client = createClient({ address: "127.0.0.1:8081", timeoutMs: 200 });
 *   serve({ fetch: createApp({ client, trustProxy: "loopback" }).fetch, port: 3000 });
 */
import { Hono } from "hono";
import type { SluiceClient, TrustProxy } from "sluice";
import { sluiceHono } from "sluice/hono";

export interface ApiOptions {
  readonly client: SluiceClient;
  /** The proxies in front of the API that may set X-Forwarded-For (none by default). */
  readonly trustProxy?: TrustProxy;
}

export function createApp({ client, trustProxy = false }: ApiOptions): Hono {
  const app = new Hono();
  app.use(
    sluiceHono({
      client,
      domain: "api",
      trustProxy,
      // One descriptor per rule family; a descriptor no rule matches (e.g. path=/items) is not limited.
      descriptors: [["ip"], ["path", "method", "ip"], ["path", "method"]],
      // Sluice down: serve anyway (availability first); failOpen: false would answer 503.
      failOpen: true,
    }),
  );
  app.get("/items", (c) => c.json({ items: ["a", "b"] }));
  app.get("/search", (c) => c.json({ q: c.req.query("q") ?? "", results: [] }));
  app.post("/login", (c) => c.json({ ok: true }));
  return app;
}
