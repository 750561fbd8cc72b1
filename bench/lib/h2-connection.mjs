/**
 * One HTTP/2 client connection for gRPC unary calls on a raw TCP socket. It costs a few microseconds per call
 * (node:http2's client costs about as much CPU per call as the grpc-js server it measures, which would make the
 * generator, not the server, the bottleneck). Requests are two prebuilt frames (HEADERS + DATA with END_STREAM)
 * with the stream id patched in; writes are batched per event-loop turn.
 */
import net from "node:net";
import tls from "node:tls";
import {
  buildFrame,
  buildSettings,
  buildWindowUpdate,
  createFrameReader,
  dataPayload,
  FLAG,
  FRAME,
  grpcRequestHeaderBlock,
  headersFragment,
  MAX_WINDOW,
  PREFACE,
  SETTING,
} from "./h2-frames.mjs";

/**
 * A call in flight. The connection fills `headerBlock`, `trailerBlock`, `chunks` and `error`, then calls
 * `onDone(call)`.
 * @typedef {{ streamId: number, headerBlock: Buffer | undefined, trailerBlock: Buffer | undefined,
 *   chunks: Buffer[], error: string | undefined }} Call
 */

/**
 * @param {number} port
 * @param {string} path gRPC method path
 * @param {(call: Call) => void} onDone
 * @param {{ ca: Buffer, cert: Buffer, key: Buffer } | undefined} [secure] TLS (ALPN h2) with this client certificate
 */
export async function openConnection(port, path, onDone, secure) {
  const socket = secure
    ? tls.connect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], ...secure })
    : net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((resolve, reject) =>
    socket.once(secure ? "secureConnect" : "connect", resolve).once("error", reject),
  );
  const headers = buildFrame(FRAME.HEADERS, FLAG.END_HEADERS, 0, grpcRequestHeaderBlock(`127.0.0.1:${port}`, path));
  const conn = {
    socket,
    onDone,
    headers,
    /** @type {Map<number, Call>} */
    calls: new Map(),
    nextId: 1,
    sendWindow: 65_535,
    received: 0,
    outbox: [],
    flushScheduled: false,
    /** @type {{ streamId: number, endStream: boolean, parts: Buffer[] } | undefined} */
    continuing: undefined,
    dead: undefined,
  };
  socket.on(
    "data",
    createFrameReader((type, flags, id, payload) => onFrame(conn, type, flags, id, payload)),
  );
  socket.on("error", (err) => fail(conn, `socket error: ${err.message}`));
  socket.on("close", () => fail(conn, "connection closed"));
  const settings = [
    [SETTING.HEADER_TABLE_SIZE, 0], // the server then encodes identical header blocks for identical headers
    [SETTING.ENABLE_PUSH, 0],
    [SETTING.INITIAL_WINDOW_SIZE, MAX_WINDOW],
  ];
  socket.write(Buffer.concat([PREFACE, buildSettings(settings), buildWindowUpdate(0, MAX_WINDOW - 65_535)]));
  return {
    /** Starts a call; false when the connection is gone. */
    start(/** @type {Call} */ call, /** @type {Buffer} */ body) {
      return start(conn, call, body);
    },
    get dead() {
      return conn.dead;
    },
    close() {
      conn.dead ??= "closed by client";
      socket.destroy();
    },
  };
}

function start(conn, call, body) {
  if (conn.dead !== undefined) return false;
  if (body.length > conn.sendWindow) {
    fail(conn, "connection send window exhausted (server stopped reading)");
    return false;
  }
  const id = conn.nextId;
  conn.nextId += 2;
  call.streamId = id;
  call.headerBlock = undefined;
  call.trailerBlock = undefined;
  call.chunks.length = 0;
  call.error = undefined;
  conn.calls.set(id, call);
  const h = conn.headers;
  const out = Buffer.allocUnsafe(h.length + 9 + body.length);
  h.copy(out, 0);
  out.writeUInt32BE(id, 5);
  out.writeUIntBE(body.length, h.length, 3);
  out[h.length + 3] = FRAME.DATA;
  out[h.length + 4] = FLAG.END_STREAM;
  out.writeUInt32BE(id, h.length + 5);
  body.copy(out, h.length + 9);
  conn.sendWindow -= body.length;
  send(conn, out);
  return true;
}

function send(conn, buf) {
  conn.outbox.push(buf);
  if (conn.flushScheduled) return;
  conn.flushScheduled = true;
  process.nextTick(flush, conn);
}

function flush(conn) {
  conn.flushScheduled = false;
  if (conn.dead !== undefined) return;
  const out = conn.outbox.length === 1 ? conn.outbox[0] : Buffer.concat(conn.outbox);
  conn.outbox.length = 0;
  conn.socket.write(out);
}

function onFrame(conn, type, flags, id, payload) {
  switch (type) {
    case FRAME.DATA:
      return onData(conn, flags, id, payload);
    case FRAME.HEADERS:
      return onHeaderFragment(conn, id, flags & FLAG.END_STREAM, !!(flags & FLAG.END_HEADERS), [
        headersFragment(flags, payload),
      ]);
    case FRAME.CONTINUATION:
      if (conn.continuing?.streamId !== id) return fail(conn, "unexpected CONTINUATION");
      conn.continuing.parts.push(payload);
      return onHeaderFragment(conn, id, conn.continuing.endStream, !!(flags & FLAG.END_HEADERS), conn.continuing.parts);
    case FRAME.RST_STREAM:
      return finish(conn, id, `RST_STREAM error code ${payload.readUInt32BE(0)}`);
    case FRAME.SETTINGS:
      if (!(flags & FLAG.ACK)) send(conn, buildFrame(FRAME.SETTINGS, FLAG.ACK, 0));
      return;
    case FRAME.PING:
      if (!(flags & FLAG.ACK)) send(conn, buildFrame(FRAME.PING, FLAG.ACK, 0, Buffer.from(payload)));
      return;
    case FRAME.WINDOW_UPDATE:
      if (id === 0) conn.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
      return;
    case FRAME.GOAWAY:
      return fail(conn, `GOAWAY error code ${payload.readUInt32BE(4)} ${payload.subarray(8).toString()}`);
    default:
      return; // PRIORITY and unknown frame types are ignored, as RFC 9113 requires
  }
}

function onData(conn, flags, id, payload) {
  conn.received += payload.length;
  if (conn.received >= 2 ** 30) {
    send(conn, buildWindowUpdate(0, conn.received));
    conn.received = 0;
  }
  const call = conn.calls.get(id);
  if (call === undefined) return;
  call.chunks.push(dataPayload(flags, payload));
  if (flags & FLAG.END_STREAM) finish(conn, id, "stream ended without trailers");
}

function onHeaderFragment(conn, id, endStream, endHeaders, parts) {
  if (!endHeaders) {
    conn.continuing = { streamId: id, endStream, parts: parts.map((p) => Buffer.from(p)) };
    return;
  }
  conn.continuing = undefined;
  const call = conn.calls.get(id);
  if (call === undefined) return;
  const block = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  if (endStream) {
    call.trailerBlock = block;
    finish(conn, id, undefined);
  } else if (call.headerBlock === undefined) {
    call.headerBlock = block;
  } else {
    finish(conn, id, "two HEADERS frames before the trailers");
  }
}

function finish(conn, id, error) {
  const call = conn.calls.get(id);
  if (call === undefined) return;
  conn.calls.delete(id);
  if (error !== undefined) call.error = error;
  conn.onDone(call);
}

function fail(conn, why) {
  if (conn.dead !== undefined) return;
  conn.dead = why;
  for (const id of [...conn.calls.keys()]) finish(conn, id, why);
  conn.socket.destroy();
}
