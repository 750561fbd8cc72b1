/**
 * gRPC-over-HTTP/2 framing for the load generator: request bodies are encoded once with the generated ts-proto
 * code (the same code the service decodes with), and responses are checked with a tiny scanner that reads only
 * `overall_code` and counts `statuses`, so verifying every response costs the generator almost nothing.
 */
import { pathToFileURL } from "node:url";
import { distPath } from "./paths.mjs";

/** The unary method every workload calls. */
export const SHOULD_RATE_LIMIT_PATH = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/** `RateLimitResponse.Code` values (rls.proto). */
export const CODE = Object.freeze({ UNKNOWN: 0, OK: 1, OVER_LIMIT: 2 });

/** Loads the compiled generated code from dist/ (run `npx tsc -p tsconfig.json` first). */
export async function loadGenerated() {
  const file = distPath("gen/envoy/service/ratelimit/v3/rls.js");
  try {
    return await import(pathToFileURL(file).href);
  } catch (err) {
    throw new Error(`cannot load ${file}; build first with: npx tsc -p tsconfig.json`, { cause: err });
  }
}

/**
 * Encodes one request as a complete gRPC message: 1-byte compressed flag (0), 4-byte big-endian length, protobuf.
 * @param {{ RateLimitRequest: { encode(m: unknown): { finish(): Uint8Array } } }} gen generated module
 * @param {string} domain
 * @param {ReadonlyArray<ReadonlyArray<readonly [string, string]>>} descriptors entries per descriptor
 * @param {ReadonlyArray<number | undefined>} [hitsAddends] descriptor-level hits_addend per descriptor (unset when
 *   undefined)
 * @param {ReadonlyArray<{ requestsPerUnit: number, unit: number } | undefined>} [limits] a request-level limit
 *   override per descriptor (`unit` as the RateLimitUnit enum: 1 second ... 3 hour), unset when undefined
 * @returns {Buffer}
 */
export function encodeRequestFrame(gen, domain, descriptors, hitsAddends = [], limits = []) {
  const message = {
    domain,
    descriptors: descriptors.map((entries, i) => ({
      entries: entries.map(([key, value]) => ({ key, value })),
      limit: limits[i],
      hitsAddend: hitsAddends[i] === undefined ? undefined : BigInt(hitsAddends[i]),
      isNegativeHits: false,
    })),
    hitsAddend: 0,
  };
  const proto = gen.RateLimitRequest.encode(message).finish();
  const frame = Buffer.allocUnsafe(5 + proto.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(proto.length, 1);
  frame.set(proto, 5);
  return frame;
}

/**
 * Reads `overall_code` (field 1, varint) and the number of `statuses` (field 2) from a gRPC response frame without
 * decoding the rest. Returns code -1 when the frame is malformed.
 * @param {Buffer} frame 5-byte prefix + protobuf
 * @returns {{ code: number, statuses: number }}
 */
export function scanResponseFrame(frame) {
  if (frame.length < 5 || frame[0] !== 0 || frame.readUInt32BE(1) !== frame.length - 5)
    return { code: -1, statuses: 0 };
  let pos = 5;
  let code = CODE.UNKNOWN;
  let statuses = 0;
  const end = frame.length;
  while (pos < end) {
    const tag = frame[pos++];
    if (tag === undefined || tag > 0x7f) return { code: -1, statuses }; // every top-level field number here is < 16
    const wire = tag & 7;
    if (wire === 0) {
      let value = 0;
      let shift = 0;
      let byte = 0x80;
      while (byte & 0x80) {
        byte = frame[pos++] ?? 0;
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      }
      if (tag >>> 3 === 1) code = value;
    } else if (wire === 2) {
      let len = 0;
      let shift = 0;
      let byte = 0x80;
      while (byte & 0x80) {
        byte = frame[pos++] ?? 0;
        len += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      }
      if (tag >>> 3 === 2) statuses++;
      pos += len;
    } else {
      return { code: -1, statuses };
    }
  }
  return pos === end ? { code, statuses } : { code: -1, statuses };
}
