/**
 * Just enough HTTP/2 (RFC 9113) and HPACK (RFC 7541) to drive a gRPC server from a raw socket: frame building and
 * parsing, and an HPACK request header block built only from static-table indexes and raw literals (never Huffman,
 * never the dynamic table), so every request block is a constant. Responses are not HPACK-decoded here: the client
 * announces SETTINGS_HEADER_TABLE_SIZE = 0, which makes the server encode identical header blocks for identical
 * headers, so a block is checked by comparing bytes (and decoded once by hpack-oracle.mjs).
 */

export const FRAME = Object.freeze({
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
});

export const FLAG = Object.freeze({ END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 });

export const SETTING = Object.freeze({
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
});

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const MAX_WINDOW = 2 ** 31 - 1;

/** One frame: 9-byte header (length, type, flags, stream id) + payload. */
export function buildFrame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId, 5);
  out.set(payload, 9);
  return out;
}

/** SETTINGS frame from [id, value] pairs. */
export function buildSettings(pairs) {
  const payload = Buffer.allocUnsafe(6 * pairs.length);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return buildFrame(FRAME.SETTINGS, 0, 0, payload);
}

export function buildWindowUpdate(streamId, increment) {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return buildFrame(FRAME.WINDOW_UPDATE, 0, streamId, payload);
}

/** HPACK integer with an N-bit prefix; `high` holds the pattern bits above the prefix (RFC 7541 §5.1). */
function hpackInt(value, prefixBits, high) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function rawString(text) {
  const bytes = Buffer.from(text, "latin1");
  return [...hpackInt(bytes.length, 7, 0), ...bytes]; // H bit 0: not Huffman-coded
}

/** Literal header field without indexing (§6.2.2); `name` is a static-table index or a literal name. */
function literal(name, value) {
  if (typeof name === "number") return [...hpackInt(name, 4, 0x00), ...rawString(value)];
  return [0x00, ...rawString(name), ...rawString(value)];
}

/** Static-table indexes (RFC 7541 Appendix A) used by gRPC requests. */
const STATIC = Object.freeze({ authority: 1, methodPost: 3, path: 4, schemeHttp: 6, contentType: 31 });

/** The request header block of a gRPC unary call: POST, http, path, authority, content-type, te. */
export function grpcRequestHeaderBlock(authority, path) {
  return Buffer.from([
    0x80 | STATIC.methodPost,
    0x80 | STATIC.schemeHttp,
    ...literal(STATIC.path, path),
    ...literal(STATIC.authority, authority),
    ...literal(STATIC.contentType, "application/grpc"),
    ...literal("te", "trailers"),
  ]);
}

/** Drops leading dynamic-table size updates (001xxxxx, §6.3), which the server sends after our table-size setting. */
export function stripTableSizeUpdates(block) {
  let pos = 0;
  while (pos < block.length && ((block[pos] ?? 0) & 0xe0) === 0x20) {
    const first = block[pos++] ?? 0;
    if ((first & 0x1f) === 0x1f) while (pos < block.length && ((block[pos++] ?? 0) & 0x80) !== 0);
  }
  return pos === 0 ? block : block.subarray(pos);
}

/** The header block fragment of a HEADERS frame payload, without padding and priority fields. */
export function headersFragment(flags, payload) {
  let start = 0;
  let end = payload.length;
  if (flags & FLAG.PADDED) {
    end -= payload[0] ?? 0;
    start = 1;
  }
  if (flags & FLAG.PRIORITY) start += 5;
  return payload.subarray(start, end);
}

/** DATA frame payload without padding. */
export function dataPayload(flags, payload) {
  if (!(flags & FLAG.PADDED)) return payload;
  return payload.subarray(1, payload.length - (payload[0] ?? 0));
}

/**
 * Incremental frame parser: feed it socket chunks, it calls onFrame(type, flags, streamId, payload) per complete
 * frame. Payloads are views into the chunk (copy them if kept beyond the callback chain's lifetime).
 */
export function createFrameReader(onFrame) {
  let rest = null;
  return (chunk) => {
    let buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
    rest = null;
    let pos = 0;
    while (buf.length - pos >= 9) {
      const len = buf.readUIntBE(pos, 3);
      if (buf.length - pos < 9 + len) break;
      const type = buf[pos + 3] ?? 0;
      const flags = buf[pos + 4] ?? 0;
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      onFrame(type, flags, streamId, buf.subarray(pos + 9, pos + 9 + len));
      pos += 9 + len;
    }
    if (pos < buf.length) rest = buf.subarray(pos);
    buf = null;
  };
}
