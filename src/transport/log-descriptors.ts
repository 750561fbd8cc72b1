/**
 * The debug line of an over-limit decision: which descriptors were asked, so an operator can see who is limited.
 * Only behind `isLevelEnabled("debug")` (never on the hot path otherwise). Values under keys that name a credential
 * (authorization, cookie, token, api key, password, secret) are written as `[REDACTED]`: Envoy descriptors are often
 * built from request headers, and a rule keyed on an API key must not leak it into logs.
 */
import type { Logger } from "pino";
import type { RateLimitRequest } from "../domain/types.js";

const CREDENTIAL_KEY = /auth|cookie|token|api[-_]?key|passw|secret|session|credential/i;

/** `k1=v1,k2=v2` per descriptor, credentials redacted. */
export function describeDescriptors(request: RateLimitRequest): string[] {
  return request.descriptors.map((d) =>
    d.entries.map((e) => `${e.key}=${CREDENTIAL_KEY.test(e.key) ? "[REDACTED]" : e.value}`).join(","),
  );
}

/** Logs an OVER_LIMIT decision at debug; the caller has checked the level. */
export function logOverLimit(log: Logger, request: RateLimitRequest): void {
  log.debug({ domain: request.domain, descriptors: describeDescriptors(request) }, "over limit");
}
