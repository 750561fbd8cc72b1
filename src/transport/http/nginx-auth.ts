/**
 * GET /nginx/auth: the endpoint for nginx's `auth_request`. nginx only understands three answers from an auth
 * subrequest: 2xx (allow), 401/403 (deny) and anything else (an error, which nginx turns into a 500). So a decision
 * is always 200 (allowed) or 403 (limited), never 429; the nginx config maps 403 to 429 (`error_page 403 =429`) and
 * copies the X-RateLimit-* and Retry-After headers with `auth_request_set`.
 *
 * No decision is an error, not a denial: no rules loaded or the store down answer 503 (and a bad mapping 400), which
 * nginx treats as a failure of the auth service, exactly as when Sluice is unreachable. The nginx config decides in
 * one place whether such failures fail open or closed (`error_page 500 502 503 504` in the auth location), the
 * counterpart of Envoy's `failure_mode_deny`. BACKEND_FAILURE_POLICY still applies first for Redis failures.
 *
 * The query string of the auth URL says which domain and which headers make the descriptors (nginx-mapping.ts).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { InvalidRequestError, NoConfigError, StoreUnavailableError } from "../../domain/errors.js";
import type { CallObserver, RateLimiter } from "../../domain/ports.js";
import type { Descriptor, Entry } from "../../domain/types.js";
import { type EntrySource, MappingError, type NginxMapping, parseNginxMapping } from "./nginx-mapping.js";
import { rateLimitHeaders } from "./rate-limit-headers.js";
import { type Handler, sendText } from "./server.js";

export const NGINX_AUTH_PATH = "/nginx/auth";

export interface NginxAuthDeps {
  readonly limiter: RateLimiter;
  readonly calls: CallObserver;
  readonly log: Logger;
}

/** Distinct auth URLs remembered; an nginx config has a handful, so this only bounds a caller inventing URLs. */
const MAX_CACHED_MAPPINGS = 256;

/** Creates the /nginx/auth handler. */
export function createNginxAuthHandler(deps: NginxAuthDeps): Handler {
  const { limiter, calls, log } = deps;
  const mappings = new Map<string, NginxMapping | MappingError>();
  const mappingFor = (query: string): NginxMapping => {
    let mapping = mappings.get(query);
    if (mapping === undefined) {
      try {
        mapping = parseNginxMapping(query);
      } catch (err) {
        if (!(err instanceof MappingError)) throw err;
        mapping = err;
      }
      if (mappings.size < MAX_CACHED_MAPPINGS) mappings.set(query, mapping);
    }
    if (mapping instanceof MappingError) throw mapping;
    return mapping;
  };

  return async (req, res) => {
    const startMs = calls.now();
    calls.request();
    // The body of an auth subrequest is never read (nginx sends none with `proxy_pass_request_body off`).
    req.resume();
    let mapping: NginxMapping;
    try {
      mapping = mappingFor(queryOf(req));
    } catch (err) {
      calls.callError("service_error");
      sendError(res, err, log);
      calls.responded(calls.now() - startMs);
      return;
    }
    const descriptors = descriptorsFrom(mapping, req.headers);
    // Envoy sends no request when no descriptor could be built; nothing to limit means allowed.
    if (descriptors.length === 0) {
      res.writeHead(200, { "Content-Length": 0 });
      res.end();
      return;
    }
    try {
      const decision = await limiter.decide({ domain: mapping.domain, descriptors });
      const limited = decision.overallCode === "OVER_LIMIT";
      const headers = rateLimitHeaders(decision);
      if (headers !== undefined) {
        res.setHeader("X-RateLimit-Limit", headers.limit);
        res.setHeader("X-RateLimit-Remaining", headers.remaining);
        res.setHeader("X-RateLimit-Reset", headers.reset);
        if (headers.retryAfter !== undefined) res.setHeader("Retry-After", headers.retryAfter);
      }
      res.writeHead(limited ? 403 : 200, { "Content-Length": 0 });
      res.end();
    } catch (err) {
      calls.callError(err instanceof StoreUnavailableError ? "redis_error" : "service_error");
      sendError(res, err, log);
    }
    calls.responded(calls.now() - startMs);
  };
}

/** Envoy's request_headers action: a descriptor whose header is missing or empty is skipped as a whole. */
function descriptorsFrom(mapping: NginxMapping, headers: IncomingHttpHeaders): Descriptor[] {
  const out: Descriptor[] = [];
  for (const sources of mapping.descriptors) {
    const entries: Entry[] = [];
    for (const source of sources) {
      const value = entryValue(source, headers);
      if (value === undefined || value === "") break;
      entries.push({ key: source.key, value });
    }
    if (entries.length === sources.length) out.push({ entries, limit: undefined, hits: 1, negative: false });
  }
  return out;
}

function entryValue(source: EntrySource, headers: IncomingHttpHeaders): string | undefined {
  if ("literal" in source) return source.literal;
  const v = headers[source.header];
  return Array.isArray(v) ? v.join(", ") : v;
}

function queryOf(req: IncomingMessage): string {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  return q === -1 ? "" : url.slice(q + 1);
}

/** 400 for a bad mapping (an nginx config mistake), 503 when no decision can be made; nginx sees both as errors. */
function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  if (err instanceof MappingError || err instanceof InvalidRequestError) {
    sendText(res, 400, `Bad Request: ${err.message}\n`);
  } else if (err instanceof NoConfigError || err instanceof StoreUnavailableError) {
    sendText(res, 503, `Service Unavailable: ${err.message}\n`);
  } else {
    log.error({ err }, "unexpected error in /nginx/auth");
    sendText(res, 500, "Internal Server Error\n");
  }
}
