/**
 * A gRPC-over-HTTP/2 client made of node:http2 and raw sockets, for protocol edge cases no gRPC library will send:
 * wrong content types and methods, broken length prefixes, compressed flags, unknown encodings, resets, bad frames.
 */
import {
  type ClientHttp2Session,
  connect as connectH2,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { percentDecode } from "../../src/transport/h2grpc/protocol.js";

export const RLS_PATH = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/** What came back on one stream. */
export interface H2Reply {
  readonly headers: IncomingHttpHeaders;
  /** Undefined when the response was trailers-only (or the stream was reset before trailers). */
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly data: Buffer;
  /** RST_STREAM code seen by the client (0 = NO_ERROR or a clean end). */
  readonly rstCode: number;
  readonly error: Error | undefined;
}

/** `grpc-status` from the trailers, or from the headers of a trailers-only response. */
export function grpcStatus(reply: H2Reply): number | undefined {
  const raw = reply.trailers?.["grpc-status"] ?? reply.headers["grpc-status"];
  return raw === undefined ? undefined : Number(raw);
}

/** `grpc-message`, percent-decoded. */
export function grpcMessage(reply: H2Reply): string | undefined {
  const raw = reply.trailers?.["grpc-message"] ?? reply.headers["grpc-message"];
  return typeof raw === "string" ? percentDecode(raw) : undefined;
}

/** A frame: 5-byte prefix (flag, big-endian length) + message. */
export function frame(message: Uint8Array, flag = 0, declaredLength = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(declaredLength, 1);
  return Buffer.concat([prefix, message]);
}

export function h2connect(authority: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connectH2(`http://${authority}`);
    session.once("connect", () => {
      session.off("error", reject);
      session.on("error", () => {});
      resolve(session);
    });
    session.once("error", reject);
  });
}

export interface CallOptions {
  readonly path?: string;
  readonly method?: string;
  readonly contentType?: string | undefined;
  readonly headers?: OutgoingHttpHeaders;
  /** Written in order (each a DATA chunk), then END_STREAM unless `end` is false. */
  readonly body?: readonly Buffer[];
  readonly end?: boolean;
}

/** One request; resolves when the stream closes. */
export function h2call(session: ClientHttp2Session, options: CallOptions = {}): Promise<H2Reply> {
  const headers: OutgoingHttpHeaders = {
    ":method": options.method ?? "POST",
    ":path": options.path ?? RLS_PATH,
    te: "trailers",
    ...options.headers,
  };
  const contentType = "contentType" in options ? options.contentType : "application/grpc";
  if (contentType !== undefined) headers["content-type"] = contentType;
  const req = session.request(headers, { endStream: false });
  return collect(req, () => {
    for (const chunk of options.body ?? []) req.write(chunk);
    if (options.end !== false) req.end();
  });
}

/** Gathers a client stream's reply after running `send`. */
export function collect(req: ReturnType<ClientHttp2Session["request"]>, send: () => void): Promise<H2Reply> {
  return new Promise((resolve) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    let error: Error | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", (e) => {
      error = e;
    });
    req.on("close", () => resolve({ headers, trailers, data: Buffer.concat(chunks), rstCode: req.rstCode, error }));
    send();
  });
}

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** An HTTP/2 frame: 9-byte header (length, type, flags, stream id) + payload. */
export function rawFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/**
 * Sends `bytes` on a fresh TCP connection; resolves with everything received once the server closes it, or (with
 * `untilGoaway`) as soon as a GOAWAY frame has arrived, or after `timeoutMs`.
 */
export function sendRaw(
  port: number,
  bytes: Buffer,
  options: { readonly untilGoaway?: boolean; readonly timeoutMs?: number } = {},
): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket: Socket = connectTcp(port, "127.0.0.1", () => socket.write(bytes));
    const chunks: Buffer[] = [];
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5_000);
    socket.on("data", (c) => {
      chunks.push(c);
      if (options.untilGoaway && frameTypes(Buffer.concat(chunks)).includes(GOAWAY)) finish(false);
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(true));
  });
}

export const GOAWAY = 7;

/** Frame types found in a server's byte stream (skipping nothing: the server sends no preface). */
export function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  let pos = 0;
  while (pos + 9 <= bytes.length) {
    types.push(bytes[pos + 3] ?? -1);
    pos += 9 + bytes.readUIntBE(pos, 3);
  }
  return types;
}
