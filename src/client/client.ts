/**
 * createClient: the SDK over @grpc/grpc-js and the generated RateLimitService client. One channel per client, reused
 * by every call (grpc-js reconnects it when Sluice restarts); a deadline on every call; failures mapped to one
 * SluiceError with a code; `failOpen` decides what an outage returns.
 */
import { type ChannelCredentials, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type RateLimitResponse, RateLimitServiceClient } from "../gen/envoy/service/ratelimit/v3/rls.js";
import { isOutage, SluiceError, type SluiceErrorCode } from "./errors.js";
import { type ClientOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { buildRequest, DEFAULT_HITS, type HitsSpec } from "./request.js";
import { failedOpenResult, toResult } from "./result.js";
import type { CallOptions, DescriptorInput, RateLimitResult, ShouldRateLimitOptions, WaitOptions } from "./types.js";
import { waitUntilAllowed } from "./wait.js";

export interface SluiceClient {
  /** One ShouldRateLimit: counts `hits` (default 1) on every descriptor and returns the decision. */
  shouldRateLimit(
    domain: string,
    descriptors: readonly DescriptorInput[],
    options?: ShouldRateLimitOptions,
  ): Promise<RateLimitResult>;
  /**
   * Peek without counting (hits_addend 0): OVER_LIMIT only when the limit is already exceeded, so a budget check
   * passes until the spend has gone past the budget (exactly at the limit is still OK).
   */
  check(domain: string, descriptors: readonly DescriptorInput[], options?: CallOptions): Promise<RateLimitResult>;
  /** Adds `cost` to every descriptor (a budget: tokens, cents), e.g. after the call whose cost it is. */
  charge(
    domain: string,
    descriptors: readonly DescriptorInput[],
    cost: number,
    options?: CallOptions,
  ): Promise<RateLimitResult>;
  /** Gives `amount` back to every descriptor (is_negative_hits), e.g. when the charged call failed. */
  refund(
    domain: string,
    descriptors: readonly DescriptorInput[],
    amount: number,
    options?: CallOptions,
  ): Promise<RateLimitResult>;
  /**
   * Counts a hit as soon as it is allowed: when limited, sleeps the retry time Sluice reports (plus jitter) and tries
   * again. Rejects with SluiceError WAIT_TIMEOUT when the next attempt would fall after `maxWaitMs`, or with the
   * signal's reason when aborted. Never polls faster than the client's `minRetryMs`.
   */
  waitUntilAllowed(
    domain: string,
    descriptors: readonly DescriptorInput[],
    options: WaitOptions,
  ): Promise<RateLimitResult>;
  /** Closes the channel; later calls reject. */
  close(): void;
}

const ERROR_CODES: ReadonlyMap<number, SluiceErrorCode> = new Map([
  [status.UNAVAILABLE, "UNAVAILABLE"],
  [status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"],
  [status.INVALID_ARGUMENT, "INVALID_ARGUMENT"],
]);

function channelCredentials(o: ResolvedOptions): ChannelCredentials {
  if (o.tls === false) return credentials.createInsecure();
  const pem = (bytes: Uint8Array | undefined): Buffer | null => (bytes === undefined ? null : Buffer.from(bytes));
  return credentials.createSsl(pem(o.tls.ca), pem(o.tls.key), pem(o.tls.cert));
}

function toError(err: ServiceError): SluiceError {
  const code = ERROR_CODES.get(err.code) ?? "INTERNAL";
  return new SluiceError(code, `Sluice ShouldRateLimit failed: ${err.details || status[err.code]}`, { cause: err });
}

export function createClient(options: ClientOptions): SluiceClient {
  const o = resolveOptions(options);
  const grpc = new RateLimitServiceClient(o.address, channelCredentials(o), o.channelOptions);

  function call(
    domain: string,
    descriptors: readonly DescriptorInput[],
    spec: HitsSpec,
    opts: CallOptions | undefined,
  ): Promise<RateLimitResult> {
    let request: ReturnType<typeof buildRequest>;
    try {
      request = buildRequest(domain, descriptors, spec);
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadline = Date.now() + (opts?.timeoutMs ?? o.timeoutMs);
    const sent = new Promise<RateLimitResponse>((resolve, reject) => {
      const c = grpc.shouldRateLimit(request, new Metadata(), { deadline }, (err, res) => {
        if (signal !== undefined) signal.removeEventListener("abort", onAbort);
        if (err === null) resolve(res);
        else reject(signal?.aborted ? signal.reason : toError(err));
      });
      function onAbort(): void {
        c.cancel();
      }
      if (signal !== undefined) signal.addEventListener("abort", onAbort, { once: true });
    });
    if (!o.failOpen) return sent.then(toResult);
    return sent.then(toResult, (err: unknown) => {
      if (isOutage(err)) return failedOpenResult(request.descriptors.length);
      throw err;
    });
  }

  const client: SluiceClient = {
    shouldRateLimit: (domain, descriptors, opts) =>
      call(domain, descriptors, opts?.hits === undefined ? DEFAULT_HITS : { hits: opts.hits, negative: false }, opts),
    check: (domain, descriptors, opts) => call(domain, descriptors, { hits: 0, negative: false }, opts),
    charge: (domain, descriptors, cost, opts) => call(domain, descriptors, { hits: cost, negative: false }, opts),
    refund: (domain, descriptors, amount, opts) => call(domain, descriptors, { hits: amount, negative: true }, opts),
    waitUntilAllowed: (domain, descriptors, opts) =>
      waitUntilAllowed((callOpts) => client.shouldRateLimit(domain, descriptors, callOpts), o, opts),
    close: () => grpc.close(),
  };
  return client;
}
