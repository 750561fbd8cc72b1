/**
 * Hono adapter: `app.use(sluiceHono({ client, domain, descriptors }))`. Hono is only a type import here. The socket
 * peer address is runtime-specific: by default it is read from @hono/node-server's bindings (`c.env.incoming`);
 * on other runtimes pass `remoteAddress` (e.g. from `hono/bun`'s or `hono/deno`'s `getConnInfo`).
 */
import type { Context, MiddlewareHandler } from "hono";
import { createRateLimitCore, type RateLimitMiddlewareOptions, type RequestView } from "./core.js";

export interface SluiceHonoOptions extends RateLimitMiddlewareOptions<Context> {
  readonly remoteAddress?: (c: Context) => string | undefined;
}

export function sluiceHono(options: SluiceHonoOptions): MiddlewareHandler {
  const core = createRateLimitCore(options);
  const remoteAddress = options.remoteAddress ?? nodeServerAddress;
  return async (c, next) => {
    const view: RequestView = {
      method: c.req.method,
      path: c.req.path,
      remoteAddress: remoteAddress(c),
      header: (name) => c.req.header(name),
    };
    const outcome = await core.decide(c, view);
    if (outcome.action !== "allow") {
      return c.json(outcome.body, outcome.status, Object.fromEntries(outcome.headers));
    }
    await next();
    for (const [name, value] of outcome.headers) c.header(name, value);
    return undefined;
  };
}

/** @hono/node-server passes `{ incoming, outgoing }` (node:http objects) as the env. */
function nodeServerAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}
