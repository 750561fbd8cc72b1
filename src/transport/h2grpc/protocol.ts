/**
 * gRPC-over-HTTP/2 protocol facts (grpc/grpc doc/PROTOCOL-HTTP2.md, doc/statuscodes.md, doc/compression.md) that
 * the server needs as plain functions: status codes, the `grpc-message` percent-encoding, the `grpc-timeout`
 * syntax and the content types a gRPC request may carry. No I/O here, so every rule is unit-tested on its own.
 */

/** gRPC status codes (doc/statuscodes.md); the numbers are the wire values of `grpc-status`. */
export const GrpcStatus = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const);

export type GrpcStatusName = keyof typeof GrpcStatus;
export type GrpcStatusCode = (typeof GrpcStatus)[GrpcStatusName];

const STATUS_NAMES: readonly string[] = Object.keys(GrpcStatus);

/** "UNAVAILABLE" for 14, for logs; a number outside the table is printed as is. */
export function grpcStatusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/**
 * `grpc-message` value: "Percent-Byte-Unreserved → %x20-%x24 / %x26-%x7E" are sent as is, every other byte of the
 * UTF-8 form as "%" 2HEXDIGIT (PROTOCOL-HTTP2.md, Responses). Plain ASCII messages (nearly all) are returned
 * unchanged without allocating.
 */
export function percentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

/**
 * Inverse of percentEncode, as a client reads `grpc-message`. The spec asks receivers not to fail on a malformed
 * value, so a "%" not followed by two hex digits is kept literally and invalid UTF-8 becomes U+FFFD.
 */
export function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  const parts: Buffer[] = [];
  let plainFrom = 0;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) !== 0x25 || !isHex(value.charCodeAt(i + 1)) || !isHex(value.charCodeAt(i + 2))) continue;
    parts.push(
      Buffer.from(value.slice(plainFrom, i), "utf8"),
      Buffer.from([Number.parseInt(value.slice(i + 1, i + 3), 16)]),
    );
    i += 2;
    plainFrom = i + 1;
  }
  parts.push(Buffer.from(value.slice(plainFrom), "utf8"));
  return Buffer.concat(parts).toString("utf8");
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Milliseconds per `TimeoutUnit`: Hour, Minute, Second, Millisecond, Microsecond, Nanosecond. */
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * `grpc-timeout` → milliseconds. The grammar is "TimeoutValue TimeoutUnit", the value "a positive integer as ASCII
 * string of at most 8 digits" (PROTOCOL-HTTP2.md, Requests). Returns undefined for anything else, which the server
 * answers with INTERNAL as grpc-js and grpc-go do.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const digits = value.length - 1;
  if (digits < 1 || digits > 8) return undefined;
  const unitMs = TIMEOUT_UNIT_MS[value[digits] ?? ""];
  if (unitMs === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < digits; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unitMs;
}

/**
 * Whether `content-type` names a gRPC protobuf request: "application/grpc" or "application/grpc+proto"
 * (PROTOCOL-HTTP2.md: `"application/grpc" [("+proto" / "+json" / {custom})]`), parameters and case ignored. Other
 * subtypes (+json, ...) are codecs this server does not have.
 */
export function isGrpcProtoContentType(value: string | undefined): boolean {
  if (value === "application/grpc" || value === "application/grpc+proto") return true;
  if (value === undefined) return false;
  const semicolon = value.indexOf(";");
  const base = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return base === "application/grpc" || base === "application/grpc+proto";
}
