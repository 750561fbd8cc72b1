/**
 * Fastify adapter: an `onRequest` hook, `app.addHook("onRequest", sluiceFastify({ client, domain, descriptors }))`
 * for every route, or a route's `onRequest` option for one. Fastify is only a type import here.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { createRateLimitCore, type RateLimitMiddlewareOptions, type RequestView } from "./core.js";

export function sluiceFastify(options: RateLimitMiddlewareOptions<FastifyRequest>): onRequestAsyncHookHandler {
  const core = createRateLimitCore(options);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const query = request.url.indexOf("?");
    const view: RequestView = {
      method: request.method,
      path: query === -1 ? request.url : request.url.slice(0, query),
      remoteAddress: request.socket.remoteAddress,
      header: (name) => first(request.headers[name]),
    };
    const outcome = await core.decide(request, view);
    for (const [name, value] of outcome.headers) reply.header(name, value);
    // Fastify's rule for answering from an async hook: send, then return the reply so the route handler is skipped.
    if (outcome.action !== "allow") return reply.code(outcome.status).send(outcome.body);
    return undefined;
  };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
