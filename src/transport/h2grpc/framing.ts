/**
 * gRPC message framing (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a 1-byte Compressed-Flag, a 4-byte
 * big-endian length, then the message. Responses are encoded with one reused BinaryWriter and framed in one Buffer,
 * so each is written to HTTP/2 in one piece. Requests may be compressed (gzip and deflate, as grpc-js accepts); the
 * output size is bounded like an uncompressed message.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { GrpcStatus, type GrpcStatusCode } from "./protocol.js";

/** Bytes before each message: Compressed-Flag (1) + Message-Length (4). */
export const PREFIX_BYTES = 5;

/** The encodings this server decompresses, in the form `grpc-accept-encoding` lists them. */
export const ACCEPTED_ENCODINGS = "identity,deflate,gzip";

/** What a ts-proto message namespace offers for encoding (`RateLimitResponse`, `HealthCheckResponse`, ...). */
export interface MessageEncoder<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** Encodes one message as a complete gRPC frame (prefix + protobuf). Synchronous, so one writer can be reused. */
export type FrameEncoder<T> = (message: T) => Buffer;

/**
 * Creates a FrameEncoder that owns one BinaryWriter (its buffer grows to the largest response and stays). The frame
 * is a copy into node's pooled Buffer memory: wrapping the writer's output instead would read `.buffer` of a small
 * on-heap typed array, which V8 must first move off the heap, and that costs more than the copy.
 */
export function createFrameEncoder<T>(codec: MessageEncoder<T>): FrameEncoder<T> {
  let writer = new BinaryWriter();
  return (message) => {
    let bytes: Uint8Array;
    try {
      bytes = codec.encode(message, writer).finish();
    } catch (err) {
      writer = new BinaryWriter(); // an encode that threw leaves forks and a position behind
      throw err;
    }
    return frameMessage(bytes);
  };
}

/** Frames already-encoded message bytes (copying them once, into pooled memory). */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}

/** The Message-Length field of a frame whose first 5 bytes are in `head`. */
export function messageLength(head: Buffer): number {
  return head.readUInt32BE(1);
}

/** A request the server must answer with a status instead of handling. */
export interface FrameError {
  readonly code: GrpcStatusCode;
  readonly message: string;
  /** Set when the error is about the encoding: tells the client what it may use instead (compression.md). */
  readonly acceptEncoding?: string;
}

/**
 * The message of a frame whose Compressed-Flag is not 0, decompressed per `grpc-encoding`. compression.md: a set
 * flag without an encoding other than identity "MUST fail with INTERNAL"; an encoding the server does not support
 * fails with UNIMPLEMENTED and a `grpc-accept-encoding` that does not list it. Output above `maxBytes` is
 * RESOURCE_EXHAUSTED and is never fully inflated (zlib stops at maxOutputLength).
 */
export function decompressMessage(
  flag: number,
  encoding: string | undefined,
  compressed: Buffer,
  maxBytes: number,
): Buffer | FrameError {
  if (flag !== 1) return { code: GrpcStatus.INTERNAL, message: `invalid Compressed-Flag ${flag}` };
  if (encoding === undefined || encoding === "identity") {
    return { code: GrpcStatus.INTERNAL, message: "Compressed-Flag set without a grpc-encoding other than identity" };
  }
  if (encoding !== "gzip" && encoding !== "deflate") {
    return {
      code: GrpcStatus.UNIMPLEMENTED,
      message: `grpc-encoding ${JSON.stringify(encoding)} is not supported (supported: ${ACCEPTED_ENCODINGS})`,
      acceptEncoding: ACCEPTED_ENCODINGS,
    };
  }
  try {
    const options = { maxOutputLength: Math.max(1, maxBytes) };
    return encoding === "gzip" ? gunzipSync(compressed, options) : inflateSync(compressed, options);
  } catch (err) {
    if (err instanceof RangeError) {
      return { code: GrpcStatus.RESOURCE_EXHAUSTED, message: `decompressed message is larger than ${maxBytes} bytes` };
    }
    return { code: GrpcStatus.INTERNAL, message: `could not decompress the ${encoding} message` };
  }
}
