/**
 * One gRPC call on one HTTP/2 stream: reads exactly one length-prefixed request message (bounded, never buffering
 * more than one message's worth), hands it to the method, and writes the answer: `:status 200` + content-type, the
 * message(s) as DATA, then the `grpc-status` trailers; errors before any message use the trailers-only form (one
 * HEADERS frame with END_STREAM). Listeners are shared module-level functions that find the call through a symbol
 * on the stream, so a call costs one object and no closures. Every answering method is total: a stream the client
 * has reset is skipped, never thrown at.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Logger } from "pino";
import type { DeadlineTracker, Expirable } from "./deadlines.js";
import { decompressMessage, messageLength, PREFIX_BYTES } from "./framing.js";
import { GrpcStatus, type GrpcStatusCode, percentEncode } from "./protocol.js";
import type { ConnectionLedger, ReadingCall, RequestBudget } from "./request-budget.js";

/** A served method. Both unary and server-streaming methods receive exactly one request message. */
export interface GrpcMethod {
  /** `/package.Service/Method`. */
  readonly path: string;
  /**
   * Called once with the request message (without its prefix). Must answer through `call`: `reply` for unary
   * methods, `write`... `end` for server streaming, or `fail`. A throw is answered with INTERNAL.
   */
  handle(message: Buffer, call: ServerCall): void;
}

/** What every call of one server shares. */
export interface CallContext {
  readonly maxMessageBytes: number;
  readonly deadlines: DeadlineTracker;
  /** Bounds on unfinished requests (request-budget.ts). */
  readonly budget: RequestBudget;
  readonly log: Logger;
}

const CALL: unique symbol = Symbol("grpc call");
type CallStream = ServerHttp2Stream & { [CALL]: ServerCall };

const CONTENT_TYPE = "application/grpc";
const OK_HEADERS = Object.freeze({ ":status": 200, "content-type": CONTENT_TYPE });
const OK_TRAILERS = Object.freeze({ "grpc-status": "0" });
/** No `date` header: gRPC does not use it and node would format one per response. */
const WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const END_STREAM = Object.freeze({ endStream: true, sendDate: false });

type Phase = "reading" | "handling" | "done";

/** Per-call state and the answering API handed to methods. */
export class ServerCall implements Expirable, ReadingCall {
  private phase: Phase = "reading";
  private first: Buffer | undefined = undefined;
  private more: Buffer[] | undefined = undefined;
  private received = 0;
  private declared = -1;
  private requestEnded = false;
  /** Trailers sent when the stream asks for them ('wantTrailers'). */
  trailers: Readonly<Record<string, string>> = OK_TRAILERS;
  readonly readStartMs: number;
  readonly ledger: ConnectionLedger;
  // The request budget's list links (ReadingCall), set here so every call has the same shape.
  older: ReadingCall | undefined = undefined;
  newer: ReadingCall | undefined = undefined;
  reading = false;
  /**
   * Until the call is answered (header() reads it; tracing extracts its context at the start). Dropped then: the
   * call lives as long as its stream, which usually outlives a scavenge, and a headers object kept with it was
   * promoted to old space with every call (about a quarter of what W3 promoted on memory, since 3c123ea).
   */
  private requestHeaders: IncomingHttpHeaders | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly method: GrpcMethod,
    private readonly ctx: CallContext,
    private readonly encoding: string | undefined,
    readonly deadlineMs: number,
    requestHeaders: IncomingHttpHeaders,
  ) {
    this.requestHeaders = requestHeaders;
    this.readStartMs = ctx.budget.now();
    this.ledger = ctx.budget.ledgerOf(stream.session as NonNullable<typeof stream.session>);
    this.ledger.inFlight++;
  }

  /** A request header (gRPC metadata) by lower-case name; the first value when repeated; undefined once answered. */
  header(name: string): string | undefined {
    const v = this.requestHeaders?.[name];
    return Array.isArray(v) ? v[0] : v;
  }

  /** Starts reading the request; from here on the call answers by itself (limits, deadline, errors). */
  start(): void {
    const stream = this.stream as CallStream;
    stream[CALL] = this;
    stream.on("data", onData);
    stream.on("end", onEnd);
    this.ctx.budget.open(this);
    if (this.deadlineMs !== Number.POSITIVE_INFINITY) this.ctx.deadlines.add(this);
  }

  /** True once the client reset the stream or the connection went away: answers would go nowhere. */
  get cancelled(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  /** Unary success: headers, the framed message, OK trailers. Ignored once the call has an answer. */
  reply(frame: Buffer): void {
    if (!this.finish()) return;
    const stream = this.stream;
    try {
      stream.on("wantTrailers", onWantTrailers);
      stream.respond(OK_HEADERS, WITH_TRAILERS);
      stream.end(frame);
    } catch (err) {
      this.ctx.log.debug({ err }, "gRPC reply not sent");
    }
  }

  /** Server streaming: sends one framed message (response headers first if needed). */
  write(frame: Buffer): void {
    if (this.phase === "done" || this.cancelled) return;
    const stream = this.stream;
    try {
      if (!stream.headersSent) {
        stream.on("wantTrailers", onWantTrailers);
        stream.respond(OK_HEADERS, WITH_TRAILERS);
      }
      stream.write(frame);
    } catch (err) {
      this.ctx.log.debug({ err }, "gRPC message not sent");
    }
  }

  /** Ends the call with OK (server streaming), after whatever was written. */
  end(): void {
    this.fail(GrpcStatus.OK, "");
  }

  /** Ends the call with `code`: trailers-only if nothing was sent yet, else trailers after the messages. */
  fail(code: GrpcStatusCode, message: string, acceptEncoding?: string): void {
    if (!this.finish()) return;
    const stream = this.stream;
    try {
      if (!stream.headersSent) {
        sendTrailersOnly(stream, code, message, acceptEncoding);
      } else {
        this.trailers = code === GrpcStatus.OK ? OK_TRAILERS : statusFields(code, message);
        stream.end();
      }
      // A request still being sent (too large, a second message, deadline) is cut short after the answer:
      // RST_STREAM(NO_ERROR) goes out once the trailers are flushed (RFC 9113 §8.1).
      if (!this.requestEnded) stream.close(constants.NGHTTP2_NO_ERROR);
    } catch (err) {
      this.ctx.log.debug({ err }, "gRPC status not sent");
    }
  }

  /** The deadline passed before an answer: DEADLINE_EXCEEDED (work already started is left to finish). */
  expire(): void {
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded");
  }

  /** Bytes of the request held while reading (ReadingCall). */
  get bufferedBytes(): number {
    return this.received;
  }

  /** The request budget gave up on this unfinished request (request-budget.ts). */
  shed(reason: "timeout" | "memory"): void {
    if (reason === "timeout") this.fail(GrpcStatus.DEADLINE_EXCEEDED, "request not complete within the read timeout");
    else this.fail(GrpcStatus.RESOURCE_EXHAUSTED, "too many unfinished requests on this server");
  }

  /** Runs `listener` once when the stream closes for any reason (client cancel, connection loss, end). */
  onClose(listener: () => void): void {
    if (this.stream.destroyed) listener();
    else this.stream.once("close", listener);
  }

  /** Marks the call answered; false if it already was or nobody is listening any more. */
  private finish(): boolean {
    if (this.phase === "done") return false;
    if (this.phase === "reading") this.ctx.budget.release(this);
    this.phase = "done";
    this.ledger.inFlight--;
    this.first = undefined;
    this.more = undefined;
    this.requestHeaders = undefined;
    if (this.deadlineMs !== Number.POSITIVE_INFINITY) this.ctx.deadlines.delete(this);
    return !this.cancelled;
  }

  /** A DATA chunk of the request. Checks the limits as soon as the 5-byte prefix is in. */
  receive(chunk: Buffer): void {
    if (this.phase !== "reading") return; // answered already: the rest is discarded
    this.received += chunk.length;
    if (!this.ctx.budget.grow(this, chunk.length)) {
      this.fail(GrpcStatus.RESOURCE_EXHAUSTED, "too many unfinished request bytes on this connection");
      return;
    }
    if (this.first === undefined) this.first = chunk;
    else if (this.more === undefined) this.more = [chunk];
    else this.more.push(chunk);
    if (this.declared < 0) {
      if (this.received < PREFIX_BYTES) return;
      if (this.first.length < PREFIX_BYTES) this.joinChunks();
      this.declared = messageLength(this.first);
      if (this.declared > this.ctx.maxMessageBytes) {
        const limit = this.ctx.maxMessageBytes;
        this.fail(GrpcStatus.RESOURCE_EXHAUSTED, `Received message larger than max (${this.declared} vs. ${limit})`);
        return;
      }
    }
    if (this.received > PREFIX_BYTES + this.declared) {
      this.fail(GrpcStatus.UNIMPLEMENTED, `Received a second request message for ${this.method.path}`);
    }
  }

  /**
   * The client half-closed: exactly one complete message must have arrived. node:http2 also ends the readable side
   * when the stream is reset or its connection goes away; such a request never ended, so it is dropped unanswered
   * and never reaches the method (nothing is counted for it).
   */
  endOfRequest(): void {
    if (this.cancelled) {
      this.finish();
      return;
    }
    this.requestEnded = true;
    if (this.phase !== "reading") return;
    const first = this.first;
    if (first === undefined) {
      this.fail(GrpcStatus.UNIMPLEMENTED, `Received no request message for ${this.method.path}`);
      return;
    }
    if (this.declared < 0 || this.received < PREFIX_BYTES + this.declared) {
      this.fail(GrpcStatus.INTERNAL, "request ended inside a length-prefixed message");
      return;
    }
    const frame = this.more === undefined ? first : this.joinChunks();
    let message = frame.subarray(PREFIX_BYTES);
    if (frame[0] !== 0) {
      const out = decompressMessage(frame[0] ?? 0, this.encoding, message, this.ctx.maxMessageBytes);
      if (!Buffer.isBuffer(out)) {
        this.fail(out.code, out.message, out.acceptEncoding);
        return;
      }
      message = out;
    }
    this.handle(message);
  }

  private handle(message: Buffer): void {
    if (this.deadlineMs !== Number.POSITIVE_INFINITY && this.deadlineMs <= this.ctx.deadlines.now()) {
      this.expire(); // not started at all: nothing counted for a call whose client has given up
      return;
    }
    this.ctx.budget.release(this);
    this.phase = "handling";
    this.first = undefined;
    this.more = undefined;
    try {
      this.method.handle(message, this);
    } catch (err) {
      this.ctx.log.error({ err, method: this.method.path }, "gRPC method threw");
      this.fail(GrpcStatus.INTERNAL, "internal error");
    }
  }

  private joinChunks(): Buffer {
    const joined = Buffer.concat([this.first ?? Buffer.alloc(0), ...(this.more ?? [])], this.received);
    this.first = joined;
    this.more = undefined;
    return joined;
  }
}

function onData(this: CallStream, chunk: Buffer): void {
  this[CALL].receive(chunk);
}

function onEnd(this: CallStream): void {
  this[CALL].endOfRequest();
}

function onWantTrailers(this: CallStream): void {
  try {
    this.sendTrailers(this[CALL].trailers);
  } catch {
    // The stream was reset between the last DATA frame and its trailers: nothing to tell anyone.
  }
}

function statusFields(code: GrpcStatusCode, message: string): Record<string, string> {
  return message === ""
    ? { "grpc-status": String(code) }
    : { "grpc-status": String(code), "grpc-message": percentEncode(message) };
}

/**
 * Answers a stream that has sent nothing yet with only a status: "Trailers-Only" (PROTOCOL-HTTP2.md), one HEADERS
 * frame with `:status 200`, the content type and `grpc-status`/`grpc-message`, and END_STREAM.
 */
export function sendTrailersOnly(
  stream: ServerHttp2Stream,
  code: GrpcStatusCode,
  message: string,
  acceptEncoding?: string,
): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: Record<string, string | number> = {
    ":status": 200,
    "content-type": CONTENT_TYPE,
    ...statusFields(code, message),
  };
  if (acceptEncoding !== undefined) headers["grpc-accept-encoding"] = acceptEncoding;
  stream.respond(headers, END_STREAM);
}

/**
 * Answers a request that is not a gRPC call this server can take (wrong method or content type) with an HTTP
 * status, so no HTTP client mistakes it for a success (PROTOCOL-HTTP2.md asks for 415 on a wrong content type);
 * `grpc-status` INTERNAL lets gRPC clients show the reason.
 */
export function sendHttpError(stream: ServerHttp2Stream, httpStatus: number, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const headers: Record<string, string | number> = {
    ":status": httpStatus,
    ...statusFields(GrpcStatus.INTERNAL, message),
  };
  if (httpStatus === 405) headers["allow"] = "POST";
  stream.respond(headers, END_STREAM);
}
