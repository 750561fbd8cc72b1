/**
 * One small app per framework (Express, Fastify, Hono on @hono/node-server), each listening on a free loopback port
 * with a Sluice middleware in front of `GET /hello` and `GET /items/:id`, so the adapter suites run the same cases on
 * the real frameworks. `user` and `tier` come from the `x-user` / `x-tier` request headers.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import type { RateLimitMiddlewareOptions } from "../../src/index.js";
import { sluiceExpress } from "../../src/middleware/express.js";
import { sluiceFastify } from "../../src/middleware/fastify.js";
import { sluiceHono } from "../../src/middleware/hono.js";

export type Framework = "express" | "fastify" | "hono";
export const FRAMEWORKS: readonly Framework[] = ["express", "fastify", "hono"];

/** The middleware options without the framework-typed user/tier functions (each app adds its own). */
export type AppOptions = Omit<RateLimitMiddlewareOptions<unknown>, "user" | "tier">;

export interface RunningApp {
  readonly url: string;
  /** How many requests reached a route handler (a limited request must not). */
  handled(): number;
  close(): Promise<void>;
}

export async function startApp(framework: Framework, options: AppOptions): Promise<RunningApp> {
  if (framework === "express") return startExpress(options);
  if (framework === "fastify") return startFastify(options);
  return startHono(options);
}

async function startExpress(options: AppOptions): Promise<RunningApp> {
  let handled = 0;
  const app = express();
  app.use(sluiceExpress({ ...options, user: (req) => req.get("x-user"), tier: (req) => req.get("x-tier") }));
  app.get("/hello", (_req, res) => {
    handled++;
    res.json({ hello: "world" });
  });
  app.get("/items/:id", (req, res) => {
    handled++;
    res.json({ id: req.params.id });
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handled: () => handled,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startFastify(options: AppOptions): Promise<RunningApp> {
  let handled = 0;
  const app = Fastify();
  const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  app.addHook(
    "onRequest",
    sluiceFastify({
      ...options,
      user: (req) => header(req.headers["x-user"]),
      tier: (req) => header(req.headers["x-tier"]),
    }),
  );
  app.get("/hello", async () => {
    handled++;
    return { hello: "world" };
  });
  app.get<{ Params: { id: string } }>("/items/:id", async (req) => {
    handled++;
    return { id: req.params.id };
  });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { url, handled: () => handled, close: () => app.close() };
}

async function startHono(options: AppOptions): Promise<RunningApp> {
  let handled = 0;
  const app = new Hono();
  app.use(sluiceHono({ ...options, user: (c) => c.req.header("x-user"), tier: (c) => c.req.header("x-tier") }));
  app.get("/hello", (c) => {
    handled++;
    return c.json({ hello: "world" });
  });
  app.get("/items/:id", (c) => {
    handled++;
    return c.json({ id: c.req.param("id") });
  });
  let server: ReturnType<typeof serve> | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    handled: () => handled,
    close: () =>
      new Promise<void>((resolve) => {
        const s = server as unknown as { close(cb: () => void): void; closeAllConnections?: () => void };
        s.close(() => resolve());
        s.closeAllConnections?.();
      }),
  };
}
