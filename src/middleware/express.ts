/**
 * Express adapter: `app.use(sluiceExpress({ client, domain, descriptors }))`. Express is only a type import here, so
 * the package does not depend on it at run time.
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { createRateLimitCore, type RateLimitMiddlewareOptions, type RequestView } from "./core.js";

export function sluiceExpress(options: RateLimitMiddlewareOptions<Request>): RequestHandler {
  const core = createRateLimitCore(options);
  return (req: Request, res: Response, next: NextFunction): void => {
    const view: RequestView = {
      method: req.method,
      path: req.path,
      remoteAddress: req.socket.remoteAddress,
      header: (name) => first(req.headers[name]),
    };
    core.decide(req, view).then((outcome) => {
      for (const [name, value] of outcome.headers) res.setHeader(name, value);
      if (outcome.action === "allow") next();
      else res.status(outcome.status).json(outcome.body);
    }, next);
  };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
