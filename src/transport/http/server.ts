/**
 * A node:http listener with an exact-path router (the reference's gorilla/mux routes match on path, any method).
 * close() stops accepting, lets in-flight requests finish, closes idle keep-alive connections at once and cuts the
 * rest at the deadline, so idle clients never hold shutdown.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { formatHostPort } from "../address.js";

/**
 * Slow clients are bounded: request headers must be complete 10 s after the connection (or the previous request)
 * started, a whole request 30 s after it started, checked every second; a slowloris client gets 408 and is closed.
 */
const SERVER_OPTIONS = Object.freeze({
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 1_000,
});

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface Route {
  readonly path: string;
  /** One-line description, listed on the debug port's index. */
  readonly help: string;
  readonly handler: Handler;
}

export interface HttpServerOptions {
  readonly host: string;
  /** 0 binds a free port. */
  readonly port: number;
  /** Connections held at once; more are closed on accept. */
  readonly maxConnections?: number;
  readonly routes: readonly Route[];
  readonly log: Logger;
}

export interface HttpServer {
  readonly port: number;
  readonly address: string;
  close(deadlineMs: number): Promise<void>;
}

/** Binds and starts the listener. Rejects if the address cannot be bound. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { log } = options;
  const routes = new Map(options.routes.map((r) => [r.path, r]));
  let closing = false;
  const server = createServer(SERVER_OPTIONS, (req, res) => {
    if (closing) res.setHeader("Connection", "close");
    const route = routes.get(pathOf(req.url));
    if (route === undefined) {
      sendText(res, 404, "404 page not found\n");
      return;
    }
    Promise.resolve()
      .then(() => route.handler(req, res))
      .catch((err: unknown) => {
        log.error({ err, path: route.path }, "HTTP handler failed");
        if (!res.headersSent) sendText(res, 500, "Internal Server Error\n");
        else res.destroy();
      });
  });
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    port,
    address: formatHostPort(options.host, port),
    close(deadlineMs) {
      closing = true;
      closed ??= new Promise<void>((resolve) => {
        // Responses finishing after close() leave idle keep-alive sockets behind; sweep them until all are gone.
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return "/";
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

/** Sends a complete text/plain response. */
export function sendText(res: ServerResponse, statusCode: number, body: string): void {
  res.writeHead(statusCode, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
