/**
 * The framework-free core of the HTTP middleware: request facts → descriptors → one Sluice call → what to answer.
 * The Express, Fastify and Hono adapters only read their request into a RequestView and write the Outcome back.
 */
import type { SluiceClient } from "../client/client.js";
import { isOutage } from "../client/errors.js";
import type { DescriptorInput, RateLimitResult } from "../client/types.js";
import { createClientIpResolver, type TrustProxy } from "./client-ip.js";
import { type HeaderList, limitHeaders, retryAfterSeconds } from "./headers.js";

/** What every adapter reads from its framework's request. */
export interface RequestView {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The socket peer address. */
  readonly remoteAddress: string | undefined;
  /** A request header (lower-case name); the first value when repeated. */
  header(name: string): string | undefined;
}

/** The facts a descriptor can be built from. `user` and `tier` come from the options' functions. */
export interface RequestFacts {
  /** The client IP (see `trustProxy`). */
  readonly ip: string | undefined;
  readonly path: string;
  readonly method: string;
  readonly user: string | undefined;
  readonly tier: string | undefined;
  header(name: string): string | undefined;
}

/** Entry key each fact is sent under; `ip` uses Envoy's `remote_address` so the same rules serve both. */
export const FACT_KEYS = Object.freeze({
  ip: "remote_address",
  path: "path",
  method: "method",
  user: "user",
  tier: "tier",
} as const);

export type FactName = keyof typeof FACT_KEYS;

/**
 * One descriptor: a list of facts (`["ip"]`, `["path", "method"]`, entries in that order), or a function for
 * anything else. A descriptor whose fact is missing (no user on an anonymous request) or whose function returns
 * undefined is not sent.
 */
export type DescriptorSpec = readonly FactName[] | ((facts: RequestFacts) => DescriptorInput | undefined);

export interface RateLimitMiddlewareOptions<Req> {
  readonly client: SluiceClient;
  /** The rules' `domain`. */
  readonly domain: string;
  readonly descriptors: readonly DescriptorSpec[];
  /** Who the caller is (e.g. from the auth middleware that ran before). */
  readonly user?: (req: Req) => string | undefined;
  /** The caller's plan or tier. */
  readonly tier?: (req: Req) => string | undefined;
  /** Which proxies may set X-Forwarded-For (default: none). */
  readonly trustProxy?: TrustProxy;
  /** Add RateLimit-* / X-RateLimit-* headers to every answer that has a limit (default true). */
  readonly headers?: boolean;
  /**
   * When Sluice cannot be asked (down, or past the client's deadline): `true` lets the request through, `false`
   * (default) answers 503. A client created with `failOpen: true` already answers "allowed" and this is not reached.
   */
  readonly failOpen?: boolean;
  /** Hits each request counts (default 1). */
  readonly hits?: number;
}

/** What the adapter does: pass on (with headers), or answer 429 / 503 itself. */
export type Outcome =
  | { readonly action: "allow"; readonly headers: HeaderList; readonly result: RateLimitResult | undefined }
  | { readonly action: "deny"; readonly status: 429; readonly headers: HeaderList; readonly body: LimitedBody }
  | { readonly action: "unavailable"; readonly status: 503; readonly headers: HeaderList; readonly body: LimitedBody };

export interface LimitedBody {
  readonly error: string;
  readonly retryAfterSeconds?: number;
}

const NO_HEADERS: HeaderList = Object.freeze([]);
const UNAVAILABLE_BODY: LimitedBody = Object.freeze({ error: "rate limit service unavailable" });

export interface RateLimitCore<Req> {
  decide(req: Req, view: RequestView): Promise<Outcome>;
}

export function createRateLimitCore<Req>(options: RateLimitMiddlewareOptions<Req>): RateLimitCore<Req> {
  const { client, domain, descriptors: specs } = options;
  if (typeof domain !== "string" || domain === "") throw new TypeError("rate limit middleware: domain is required");
  if (specs.length === 0) throw new TypeError("rate limit middleware: descriptors must not be empty");
  const clientIp = createClientIpResolver(options.trustProxy);
  const withHeaders = options.headers ?? true;
  const callOpts = options.hits === undefined ? undefined : { hits: options.hits };

  return {
    async decide(req, view) {
      const facts: RequestFacts = {
        ip: clientIp(view.remoteAddress, view.header("x-forwarded-for")),
        path: view.path,
        method: view.method,
        user: options.user?.(req),
        tier: options.tier?.(req),
        header: (name) => view.header(name.toLowerCase()),
      };
      const descriptors: DescriptorInput[] = [];
      for (const spec of specs) {
        const d = typeof spec === "function" ? spec(facts) : fromFacts(spec, facts);
        if (d !== undefined) descriptors.push(d);
      }
      if (descriptors.length === 0) return { action: "allow", headers: NO_HEADERS, result: undefined };
      let result: RateLimitResult;
      try {
        result = await client.shouldRateLimit(domain, descriptors, callOpts);
      } catch (err) {
        if (!isOutage(err)) throw err;
        if (options.failOpen === true) return { action: "allow", headers: NO_HEADERS, result: undefined };
        return { action: "unavailable", status: 503, headers: NO_HEADERS, body: UNAVAILABLE_BODY };
      }
      const headers = withHeaders ? limitHeaders(result) : NO_HEADERS;
      if (result.allowed) return { action: "allow", headers, result };
      const retryAfter = retryAfterSeconds(result);
      return {
        action: "deny",
        status: 429,
        headers: [...headers, ["Retry-After", String(retryAfter)]],
        body: { error: "Too Many Requests", retryAfterSeconds: retryAfter },
      };
    },
  };
}

function fromFacts(names: readonly FactName[], facts: RequestFacts): DescriptorInput | undefined {
  const entries: [string, string][] = [];
  for (const name of names) {
    const value = facts[name];
    if (value === undefined || value === "") return undefined;
    entries.push([FACT_KEYS[name], value]);
  }
  return entries;
}
