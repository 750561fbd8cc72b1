/**
 * GET /healthcheck on the main HTTP port, as the reference's HealthChecker.ServeHTTP: 200 "OK" when every health
 * component is healthy, 500 with an empty body otherwise (including from the moment SIGTERM arrives).
 */
import type { Health } from "../health.js";
import type { Route } from "./server.js";

/** The /healthcheck route. */
export function healthcheckRoute(health: Health): Route {
  return {
    path: "/healthcheck",
    help: "200 OK when healthy, 500 otherwise",
    handler(_req, res) {
      if (health.isHealthy()) {
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": 2 });
        res.end("OK");
      } else {
        res.writeHead(500, { "Content-Length": 0 });
        res.end();
      }
    },
  };
}
