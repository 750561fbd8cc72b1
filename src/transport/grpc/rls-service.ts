/**
 * `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`: decode → map to domain → engine → map back. No
 * decisions here. The request decoder never throws: garbage bytes and non-UTF-8 strings become a value the method
 * answers with INVALID_ARGUMENT (a gRPC server would otherwise answer a failed deserialization with INTERNAL).
 */

import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { ServiceDefinition } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { CallObserver, CallSpan, RateLimiter } from "../../domain/ports.js";
import type { Decision, RateLimitRequest as DomainRequest } from "../../domain/types.js";
import {
  RateLimitRequest,
  RateLimitResponse,
  RateLimitServiceService,
} from "../../gen/envoy/service/ratelimit/v3/rls.js";
import type { GrpcMethod, ServerCall } from "../h2grpc/call.js";
import { createFrameEncoder } from "../h2grpc/framing.js";
import { GrpcStatus, grpcStatusName } from "../h2grpc/protocol.js";
import { logOverLimit } from "../log-descriptors.js";
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

/**
 * The generated service definition with the non-throwing deserializer (same path, same response serializer): the
 * method path served here, and a definition any @grpc/grpc-js server or client can use.
 */
export const RlsServiceDefinition = {
  shouldRateLimit: { ...RateLimitServiceService.shouldRateLimit, requestDeserialize: decodeRequest },
} as const satisfies ServiceDefinition;

export interface RlsServiceDeps {
  readonly limiter: RateLimiter;
  readonly calls: CallObserver;
  readonly log: Logger;
}

/**
 * ShouldRateLimit as a gRPC method of the node:http2 server: decode, map, decide (the one await), encode, reply.
 * Every outcome is answered through the call; nothing is logged above debug unless the error is unexpected.
 */
export function createRlsMethod(deps: RlsServiceDeps): GrpcMethod {
  const { limiter, calls, log } = deps;
  const encodeResponse = createFrameEncoder(RateLimitResponse);
  const fail = (call: ServerCall, err: unknown, startMs: number, span?: CallSpan): void => {
    const mapped = toGrpcError(err, log);
    calls.callError(mapped.kind);
    if (log.isLevelEnabled("debug")) log.debug({ code: grpcStatusName(mapped.code), err }, "ShouldRateLimit failed");
    call.fail(mapped.code, mapped.details);
    span?.end(grpcStatusName(mapped.code), err);
    calls.responded(calls.now() - startMs);
  };
  // Never rejects: every throw inside is answered through `call`, whose methods never throw.
  const answer = async (call: ServerCall, request: DomainRequest, startMs: number): Promise<void> => {
    const span = calls.traceCall(call, request.domain, request.descriptors.length);
    let frame: Buffer;
    try {
      const decision = await limiter.decide(request);
      // A traced call's lines carry its trace id (a child logger only for sampled calls).
      logDecided(span === undefined ? log : log.child(span.logFields), request, decision);
      frame = encodeResponse(toRlsResponse(decision));
      span?.end(decision.overallCode, undefined, decision.storeMs);
    } catch (err) {
      fail(call, err, startMs, span);
      return;
    }
    call.reply(frame);
    calls.responded(calls.now() - startMs);
  };
  return {
    path: RlsServiceDefinition.shouldRateLimit.path,
    handle(message, call) {
      const startMs = calls.now();
      calls.request();
      const decoded = decodeRequest(message);
      if (!decoded.ok) {
        calls.callError("service_error");
        call.fail(GrpcStatus.INVALID_ARGUMENT, `malformed RateLimitRequest: ${decoded.reason}`);
        calls.responded(calls.now() - startMs);
        return;
      }
      let request: DomainRequest;
      try {
        request = fromRlsRequest(decoded.request);
      } catch (err) {
        fail(call, err, startMs);
        return;
      }
      void answer(call, request, startMs);
    },
  };
}

/** The debug lines of a decision (nothing below debug); returns the decision. */
function logDecided(log: Logger, request: DomainRequest, decision: Decision): Decision {
  if (log.isLevelEnabled("debug")) {
    log.debug({ domain: request.domain, decision: decision.overallCode }, "ShouldRateLimit decided");
    if (decision.overallCode === "OVER_LIMIT") logOverLimit(log, request);
  }
  return decision;
}
