/**
 * Decodes HPACK header blocks without an HPACK decoder of our own: the block is replayed, behind three indexed
 * pseudo-headers, as a request to an in-process node:http2 server, whose nghttp2 decoder hands back the fields.
 * The load generator calls it once per distinct trailer block (they are byte-identical while the server's
 * dynamic table is disabled), so its cost does not matter.
 */
import http2 from "node:http2";
import net from "node:net";
import {
  buildFrame,
  buildSettings,
  createFrameReader,
  FLAG,
  FRAME,
  PREFACE,
  SETTING,
  stripTableSizeUpdates,
} from "./h2-frames.mjs";

/**
 * `:method GET`, `:scheme http`, `:path /` as static-table indexes (RFC 7541 Appendix A: 2, 6, 4), then
 * `:authority: x` as a literal with indexed name (1); nghttp2 rejects requests that have neither authority nor host.
 */
const PSEUDO = Buffer.from([0x82, 0x86, 0x84, 0x01, 0x01, 0x78]);
/** Indexed `:status: 200`..`:status: 500` (static indexes 8-14): a response block starts with one of these. */
const STATUS_BY_INDEX = new Map([
  [0x88, "200"],
  [0x89, "204"],
  [0x8a, "206"],
  [0x8b, "304"],
  [0x8c, "400"],
  [0x8d, "404"],
  [0x8e, "500"],
]);

/**
 * @returns {Promise<{ decode(block: Buffer): Promise<Record<string, string>>, close(): Promise<void> }>}
 */
export async function createHpackOracle() {
  const server = http2.createServer();
  /** @type {Map<number, (headers: Record<string, string>) => void>} */
  const waiting = new Map();
  server.on("stream", (stream, headers) => {
    const fields = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":")) fields[k] = String(v);
    waiting.get(stream.id)?.(fields);
    waiting.delete(stream.id);
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
  server.on("sessionError", () => {});
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const socket = net.connect(server.address().port, "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.on(
    "data",
    createFrameReader((type, flags) => onFrame(socket, type, flags)),
  );
  socket.write(Buffer.concat([PREFACE, buildSettings([[SETTING.ENABLE_PUSH, 0]])]));
  let nextId = 1;
  return {
    decode(block) {
      let rest = stripTableSizeUpdates(block);
      const status = STATUS_BY_INDEX.get(rest[0] ?? 0);
      if (status !== undefined) rest = rest.subarray(1);
      const id = nextId;
      nextId += 2;
      const result = new Promise((resolve) => {
        waiting.set(id, (fields) => resolve(status === undefined ? fields : { ":status": status, ...fields }));
        setTimeout(() => {
          if (waiting.delete(id)) resolve({ undecodable: block.toString("hex") });
        }, 1000).unref();
      });
      socket.write(buildFrame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, Buffer.concat([PSEUDO, rest])));
      return result;
    },
    async close() {
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function onFrame(socket, type, flags) {
  if (type === FRAME.SETTINGS && !(flags & FLAG.ACK)) socket.write(buildFrame(FRAME.SETTINGS, FLAG.ACK, 0));
}
