/**
 * Calling rate-limited providers (Replicate, fal, Google Cloud) from many workers without tripping their quotas:
 * before each call, wait until Sluice allows it. This replaces "check `provider:model`, then sleep for the key's TTL":
 * waitUntilAllowed sleeps exactly the retry time Sluice reports (with jitter so the waiters spread out), counts the
 * call only when it goes through, and gives up after `maxWaitMs` instead of queueing forever.
 *
 *   const sluice = createClient({ address: "127.0.0.1:8081", timeoutMs: 200 });
 *   const providers = createProviderClient({ sluice, maxWaitMs: 30_000 });
 *   const image = await providers.call("replicate", "black-forest-labs/flux-pro", () => replicate.run(...));
 */
import type { DescriptorInput, SluiceClient } from "sluice";

export type Provider = "replicate" | "fal" | "google-cloud";

export interface ProviderClientOptions {
  readonly sluice: SluiceClient;
  /** The longest a call waits for its quota before failing with SluiceError WAIT_TIMEOUT. */
  readonly maxWaitMs: number;
}

export interface ProviderClient {
  /** Waits for the provider's (and the model's) quota, then runs `fn`. Aborting `signal` stops the wait. */
  call<T>(provider: Provider, model: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export function createProviderClient({ sluice, maxWaitMs }: ProviderClientOptions): ProviderClient {
  return {
    async call(provider, model, fn, signal) {
      // The provider-wide quota, and the model's own one where the rules have it (unmatched: not limited).
      const descriptors: DescriptorInput[] = [{ provider }, { provider, model }];
      await sluice.waitUntilAllowed("providers", descriptors, { maxWaitMs, ...(signal ? { signal } : {}) });
      return fn();
    },
  };
}
