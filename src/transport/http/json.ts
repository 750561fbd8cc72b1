/**
 * POST /json: the reference's HTTP/1 face of ShouldRateLimit for clients that cannot speak gRPC. protojson in
 * (strict, as Go's protojson: see protojson.ts) and out (generated toJSON, plus Duration as "<n>s").
 * 200 OK, 429 OVER_LIMIT (as the reference); the body's RateLimit-* headers are also sent as HTTP headers.
 * 400 unparsable or invalid request; 413 body too large; 503 no config or store down (the reference answers 400
 * for those; UNAVAILABLE-like is what callers can retry on).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { InvalidRequestError, NoConfigError, StoreUnavailableError } from "../../domain/errors.js";
import type { CallObserver, HeaderReader, RateLimiter } from "../../domain/ports.js";
import type { RateLimitRequest as DomainRequest } from "../../domain/types.js";
import { type RateLimitRequest, RateLimitResponse } from "../../gen/envoy/service/ratelimit/v3/rls.js";
import { fromRlsRequest, REQUEST_LIMITS, toRlsResponse } from "../grpc/map.js";
import { logOverLimit } from "../log-descriptors.js";
import { requestFromProtojson } from "./protojson.js";
import { type Handler, sendText } from "./server.js";

export interface JsonHandlerDeps {
  readonly limiter: RateLimiter;
  readonly calls: CallObserver;
  readonly log: Logger;
  /** Largest accepted body in bytes (default REQUEST_LIMITS.maxMessageBytes). */
  readonly maxBodyBytes?: number;
}

/** A request the handler answers without reaching the engine. */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Creates the /json handler. */
export function createJsonHandler(deps: JsonHandlerDeps): Handler {
  const { limiter, calls, log } = deps;
  const maxBodyBytes = deps.maxBodyBytes ?? REQUEST_LIMITS.maxMessageBytes;
  return async (req, res) => {
    const startMs = calls.now();
    calls.request();
    let request: DomainRequest;
    try {
      request = parseRequest(await readBody(req, maxBodyBytes));
    } catch (err) {
      calls.callError("service_error");
      sendError(res, err, log);
      calls.responded(calls.now() - startMs);
      return;
    }
    const span = calls.traceCall(headerReader(req), request.domain, request.descriptors.length);
    try {
      const decision = await limiter.decide(request);
      if (decision.overallCode === "OVER_LIMIT" && log.isLevelEnabled("debug")) {
        logOverLimit(span === undefined ? log : log.child(span.logFields), request);
      }
      const body = JSON.stringify(responseToJson(toRlsResponse(decision)));
      // The body's responseHeadersToAdd (LIMIT_RESPONSE_HEADERS_ENABLED) are also real headers, for HTTP clients.
      for (const h of decision.responseHeaders) res.setHeader(h.key, h.value);
      res.writeHead(decision.overallCode === "OVER_LIMIT" ? 429 : 200, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(body),
      });
      res.end(body);
      span?.end(decision.overallCode, undefined, decision.storeMs);
    } catch (err) {
      calls.callError(err instanceof StoreUnavailableError ? "redis_error" : "service_error");
      span?.end("ERROR", err);
      sendError(res, err, log);
    }
    calls.responded(calls.now() - startMs);
  };
}

function headerReader(req: IncomingMessage): HeaderReader {
  return {
    header(name) {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

/** JSON text → domain request; every failure is an HttpError(400) or InvalidRequestError. */
function parseRequest(text: string): DomainRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not JSON: ${(err as Error).message}`);
  }
  let message: RateLimitRequest;
  try {
    message = requestFromProtojson(parsed);
  } catch (err) {
    throw new HttpError(400, `not a RateLimitRequest: ${(err as Error).message}`);
  }
  return fromRlsRequest(message);
}

/** Reads the whole body as strict UTF-8, refusing more than `limit` bytes (413) before buffering them. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(strictUtf8.decode(Buffer.concat(chunks)));
      } catch {
        reject(new HttpError(400, "body is not valid UTF-8"));
      }
    });
    req.on("error", reject);
  });
}

/** HTTP table for errors (gRPC's lives in grpc/status.ts). */
function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  let statusCode = 500;
  let text = "Internal Server Error";
  if (err instanceof HttpError) {
    statusCode = err.statusCode;
    text = `${statusCode === 413 ? "Payload Too Large" : "Bad Request"}: ${err.message}`;
  } else if (err instanceof InvalidRequestError) {
    statusCode = 400;
    text = `Bad Request: ${err.message}`;
  } else if (err instanceof NoConfigError || err instanceof StoreUnavailableError) {
    statusCode = 503;
    text = `Service Unavailable: ${err.message}`;
  } else {
    log.error({ err }, "unexpected error in /json");
  }
  if (statusCode === 413) res.setHeader("Connection", "close");
  sendText(res, statusCode, `${text}\n`);
}

/**
 * protojson of a RateLimitResponse. The generated toJSON already writes lowerCamelCase names and enum names; only
 * google.protobuf.Duration differs: protojson writes it as a string ("42s"), ts-proto as an object.
 */
export function responseToJson(response: RateLimitResponse): unknown {
  const json = RateLimitResponse.toJSON(response) as { statuses?: Record<string, unknown>[] };
  json.statuses?.forEach((status, i) => {
    const d = response.statuses[i]?.durationUntilReset;
    if (d !== undefined) status["durationUntilReset"] = `${d.seconds}s`;
  });
  return json;
}
