/**
 * GET PROMETHEUS_PATH on PROMETHEUS_ADDR (USE_PROMETHEUS): the Prometheus scrape, rendered by telemetry (prom-client).
 * A render failure (e.g. a cluster worker not answering in time) is a 500 with the reason, never a crash.
 */
import type { Logger } from "pino";
import { type Route, sendText } from "./server.js";

export interface MetricsRouteOptions {
  readonly path: string;
  /** Renders the exposition text. */
  readonly render: () => Promise<string>;
  readonly contentType: string;
  readonly log: Logger;
}

export function metricsRoute(options: MetricsRouteOptions): Route {
  return {
    path: options.path,
    help: "Prometheus metrics",
    handler: async (_req, res) => {
      let body: string;
      try {
        body = await options.render();
      } catch (err) {
        options.log.warn({ err }, "metrics scrape failed");
        sendText(res, 500, `metrics unavailable: ${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { "Content-Type": options.contentType, "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    },
  };
}
