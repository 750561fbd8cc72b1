/**
 * The library entry point (`import { createClient } from "sluice"`): the client SDK and the framework-free core of
 * the HTTP middleware. Importing it has no side effects: the server starts only from its own entry (dist/main.js,
 * `npm start`, `sluice serve`). The framework adapters have their own entries (`sluice/express`, `sluice/fastify`,
 * `sluice/hono`) so that importing this one never needs a web framework's types.
 */
export { createClient, type SluiceClient } from "./client/client.js";
export { SluiceError, type SluiceErrorCode } from "./client/errors.js";
export type { ClientOptions, TlsOptions, WaitClock } from "./client/options.js";
export type {
  CallOptions,
  DecisionCode,
  DescriptorInput,
  DescriptorResult,
  LimitInfo,
  LimitUnit,
  RateLimitResult,
  ResponseHeader,
  ShouldRateLimitOptions,
  WaitOptions,
} from "./client/types.js";
export type { TrustProxy } from "./middleware/client-ip.js";
export {
  createRateLimitCore,
  type DescriptorSpec,
  FACT_KEYS,
  type FactName,
  type LimitedBody,
  type Outcome,
  type RateLimitCore,
  type RateLimitMiddlewareOptions,
  type RequestFacts,
  type RequestView,
} from "./middleware/core.js";
export { type HeaderList, limitHeaders, retryAfterSeconds } from "./middleware/headers.js";
