/**
 * xDS `RateLimitConfig` resources → rule files. Each resource becomes the YAML document it stands for (as the
 * reference's `ConfigXdsProtoToYaml` does) and then goes through the same schema check and compiler as a file on
 * disk, so both sources produce the same RuleSet and the same errors: a bad resource is named with the field path
 * of its YAML twin, which is the proto field path (`descriptors[0].rate_limit.unit`). It also means every rule key
 * the YAML schema learns is handled here for free; keys the proto cannot carry (Sluice's own algorithm keys)
 * simply never appear.
 *
 * Proto3 defaults map to the YAML absent values: `value: ""` is a value-less key, `unit: UNKNOWN` is no unit (valid
 * only with `unlimited: true`), false booleans and empty lists are left out.
 */
import { stringify } from "yaml";
import { ConfigError } from "../../domain/errors.js";
import type { Any } from "../../gen/google/protobuf/any.js";
import {
  RateLimitConfig,
  type RateLimitDescriptor,
  type RateLimitPolicy,
  RateLimitUnit,
  rateLimitUnitToJSON,
} from "../../gen/ratelimit/config/ratelimit/v3/rls_conf.js";
import type { RuleFile } from "../../rules/schema.js";

/** The resource type Sluice subscribes to (envoyproxy/ratelimit's, as Envoy Gateway sends it). */
export const RLS_CONFIG_TYPE_URL = "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig";

/** Decodes every resource of one response; throws ConfigError naming the resource that cannot be read. */
export function rlsConfigsToRuleFiles(resources: readonly Any[]): RuleFile[] {
  return resources.map((any, i) => {
    const at = `xds:resources[${i}]`;
    if (any.typeUrl !== RLS_CONFIG_TYPE_URL) {
      throw new ConfigError(
        at,
        "",
        `unexpected resource type ${JSON.stringify(any.typeUrl)} (want ${RLS_CONFIG_TYPE_URL})`,
      );
    }
    let config: RateLimitConfig;
    try {
      config = RateLimitConfig.decode(any.value);
    } catch (err) {
      throw new ConfigError(at, "", `cannot decode RateLimitConfig: ${err instanceof Error ? err.message : err}`);
    }
    return { name: config.name === "" ? at : `xds:${config.name}`, text: rlsConfigToYaml(config) };
  });
}

/** The YAML document a RateLimitConfig stands for (YAML 1.1 quoting, as the schema parses it). */
export function rlsConfigToYaml(config: RateLimitConfig): string {
  return stringify({ domain: config.domain, descriptors: config.descriptors.map(descriptor) }, { version: "1.1" });
}

function descriptor(d: RateLimitDescriptor): Record<string, unknown> {
  return {
    key: d.key,
    ...(d.value === "" ? {} : { value: d.value }),
    ...(d.rateLimit === undefined ? {} : { rate_limit: policy(d.rateLimit) }),
    ...(d.descriptors.length === 0 ? {} : { descriptors: d.descriptors.map(descriptor) }),
    ...(d.shadowMode ? { shadow_mode: true } : {}),
    ...(d.detailedMetric ? { detailed_metric: true } : {}),
    ...(d.quotaMode ? { quota_mode: true } : {}),
    ...(d.metadata === undefined ? {} : { metadata: d.metadata }),
  };
}

function policy(p: RateLimitPolicy): Record<string, unknown> {
  return {
    // An unknown enum number decodes as itself; it is passed on as a name the schema rejects with its path.
    ...(p.unit === RateLimitUnit.UNKNOWN ? {} : { unit: unitName(p.unit) }),
    requests_per_unit: p.requestsPerUnit,
    ...(p.unlimited ? { unlimited: true } : {}),
    ...(p.name === "" ? {} : { name: p.name }),
    ...(p.replaces.length === 0 ? {} : { replaces: p.replaces.map((r) => ({ name: r.name })) }),
  };
}

function unitName(unit: RateLimitUnit): string {
  const name = rateLimitUnitToJSON(unit);
  return name === "UNRECOGNIZED" ? `unit number ${String(unit)}` : name;
}
