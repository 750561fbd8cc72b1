/**
 * The xDS rule source (CONFIG_TYPE=GRPC_XDS_SOTW): RateLimitConfig resources from an ADS server, published into
 * the rule-set holder. Each response is the complete rule set of this source (state of the world): accepted as a
 * whole and ACKed, or rejected as a whole and NACKed with the error (resource name and field path), the previous
 * rules serving on. Load counting and last-good logic are the holder's.
 */
import type { Logger } from "pino";
import { originIn, type RuleFeed } from "../../reload/holder.js";
import { compileRuleSet } from "../../rules/compile.js";
import type { WarningSink } from "../../rules/schema.js";
import type { XdsSettings } from "../../settings/xds-settings.js";
import { type AdsClient, createAdsClient } from "./ads-client.js";
import { RLS_CONFIG_TYPE_URL, rlsConfigsToRuleFiles } from "./rls-config.js";

export interface XdsRuleSourceOptions {
  readonly settings: XdsSettings;
  readonly feed: RuleFeed;
  /** MERGE_DOMAIN_CONFIG: several resources may share a domain. */
  readonly mergeDomainConfig: boolean;
  readonly log: Logger;
  /** Jitter source for the reconnect backoff, [0, 1). */
  readonly random?: () => number;
}

/** Creates the source; it connects on start() and reconnects until close(). */
export function createXdsRuleSource(options: XdsRuleSourceOptions): AdsClient {
  const { feed, settings } = options;
  const log = options.log.child({ component: "xds" });
  return createAdsClient({
    settings,
    typeUrl: RLS_CONFIG_TYPE_URL,
    log,
    ...(options.random ? { random: options.random } : {}),
    apply(resources, version) {
      try {
        const files = rlsConfigsToRuleFiles(resources);
        const onWarning: WarningSink = (w) =>
          log.warn({ file: w.file, path: w.path, detail: w.detail }, "xDS rule warning");
        const own = compileRuleSet(files, { mergeDomainConfig: options.mergeDomainConfig, onWarning });
        const published = feed.publish(own, originIn(files));
        const summary = { version, rulesVersion: own.version, domains: own.domains.length, resources: files.length };
        log.info({ ...summary, previousVersion: published.previousVersion }, "xDS rules loaded");
      } catch (caught) {
        const err = caught instanceof Error ? caught : new Error(String(caught));
        feed.reject(err);
        log.error({ err, version }, "xDS config rejected; keeping previous rules");
        throw err;
      }
    },
  });
}
