/**
 * A node:http listener with an exact-path router (the reference's gorilla/mux routes match on path, any method).
 * close() stops accepting, lets in-flight requests finish, closes every other connection at once (idle keep-alive,
 * silent, half-sent requests) and cuts the rest at the deadline, so idle or slow clients never hold shutdown.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "pino";
import { formatHostPort } from "../address.js";

/**
 * Slow clients are bounded: request headers must be complete 10 s after the connection (or the previous request)
 * started, a whole request 30 s after it started, checked every second; a slowloris client gets 408 and is closed.
 */
const HEADERS_TIMEOUT_MS = 10_000;

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
  /** Request headers must be complete this long after the connection (or the previous request); default 10 s. */
  readonly headersTimeoutMs?: number;
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
  /** Every open connection, and those with a response still being produced. */
  const connections = new Set<Socket>();
  const answering = new Set<Socket>();
  const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const serverOptions = {
    headersTimeout,
    requestTimeout: Math.max(30_000, headersTimeout),
    connectionsCheckingInterval: Math.min(1_000, headersTimeout),
  };
  const server = createServer(serverOptions, (req, res) => {
    const socket = req.socket;
    answering.add(socket);
    res.once("close", () => answering.delete(socket));
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
  server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
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
        // Every connection without a response in progress is closed: idle keep-alive ones, and also those that
        // never sent a request or are still dribbling one (node's closeIdleConnections keeps those). Once no
        // response is in progress close() resolves (the process may exit and let the kernel close the rest) and
        // the idle connections are destroyed right after. Responses finishing later leave more behind: swept.
        const finish = (): void => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        };
        const closeIdle = (): void => {
          const idle = [...connections].filter((socket) => !answering.has(socket));
          if (answering.size === 0) finish();
          setImmediate(() => {
            for (const socket of idle) socket.destroy();
          });
        };
        const sweep = setInterval(closeIdle, 50);
        const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs);
        server.close(finish);
        closeIdle();
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
