/**
 * `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`: decode → map to domain → engine → map back. No
 * decisions here. The request deserializer never throws: grpc-js would answer a throwing deserializer with INTERNAL,
 * so garbage bytes and non-UTF-8 strings become a value the handler answers with INVALID_ARGUMENT instead.
 */

import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type handleUnaryCall, type ServiceDefinition, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { RateLimiter } from "../../domain/ports.js";
import {
  RateLimitRequest,
  type RateLimitResponse,
  RateLimitServiceService,
} from "../../gen/envoy/service/ratelimit/v3/rls.js";
import type { Stats } from "../../telemetry/stats.js";
import { fromRlsRequest, toRlsResponse } from "./map.js";
import { toGrpcError } from "./status.js";

/** Result of decoding the request bytes: the message, or why it is not a valid RateLimitRequest. */
export type DecodedRequest =
  | { readonly ok: true; readonly request: RateLimitRequest }
  | { readonly ok: false; readonly reason: string };

// proto3 requires `string` fields to be valid UTF-8 (grpc-go rejects them too); the default reader would silently
// substitute U+FFFD, which would make distinct byte strings share one counter.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const decodeUtf8 = (bytes: Uint8Array): string => strictUtf8.decode(bytes);

/** Decodes a RateLimitRequest without ever throwing. */
export function decodeRequest(bytes: Buffer): DecodedRequest {
  try {
    const invalid = invalidTopLevelTag(bytes);
    if (invalid !== undefined) return { ok: false, reason: invalid };
    return { ok: true, request: RateLimitRequest.decode(new BinaryReader(bytes, decodeUtf8)) };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The generated decoder silently stops at a field number 0 or a stray END_GROUP tag and returns what it has, so
 * garbage could pass as an (empty) request. One cheap pass over the top-level tags (nested messages are skipped by
 * length) rejects both, as protobuf parsers in other languages do. Throws on truncated input.
 */
function invalidTopLevelTag(bytes: Buffer): string | undefined {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const at = reader.pos;
    const tag = reader.uint32();
    if (tag >>> 3 === 0 || (tag & 7) === 4) return `invalid tag ${tag} at byte ${at}`;
    reader.skip(tag & 7);
  }
  return undefined;
}

/** The generated service definition with the non-throwing deserializer (same path, same response serializer). */
export const RlsServiceDefinition = {
  shouldRateLimit: { ...RateLimitServiceService.shouldRateLimit, requestDeserialize: decodeRequest },
} as const satisfies ServiceDefinition;

export interface RlsServiceDeps {
  readonly limiter: RateLimiter;
  readonly stats: Stats;
  readonly log: Logger;
}

/** Implementation of RlsServiceDefinition for `server.addService`. */
export function createRlsService(deps: RlsServiceDeps): {
  shouldRateLimit: handleUnaryCall<DecodedRequest, RateLimitResponse>;
} {
  const { limiter, stats, log } = deps;
  const fail = (err: unknown, callback: (e: { code: status; details: string }) => void): void => {
    const mapped = toGrpcError(err, log);
    stats.callError(mapped.kind);
    if (log.isLevelEnabled("debug")) log.debug({ code: status[mapped.code], err }, "ShouldRateLimit failed");
    callback({ code: mapped.code, details: mapped.details });
  };
  return {
    shouldRateLimit(call, callback) {
      stats.request();
      const decoded = call.request;
      if (!decoded.ok) {
        stats.callError("service_error");
        callback({ code: status.INVALID_ARGUMENT, details: `malformed RateLimitRequest: ${decoded.reason}` });
        return;
      }
      let request: ReturnType<typeof fromRlsRequest>;
      try {
        request = fromRlsRequest(decoded.request);
      } catch (err) {
        fail(err, callback);
        return;
      }
      limiter.decide(request).then(
        (decision) => {
          if (log.isLevelEnabled("debug")) {
            log.debug({ domain: request.domain, decision: decision.overallCode }, "ShouldRateLimit decided");
          }
          try {
            callback(null, toRlsResponse(decision));
          } catch (err) {
            fail(err, callback);
          }
        },
        (err: unknown) => fail(err, callback),
      );
    },
  };
}
