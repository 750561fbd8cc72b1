/**
 * Plain descriptors → the generated RateLimitRequest. The only place the SDK builds wire messages; kept allocation-
 * light because it runs on every call of the caller's hot path.
 */
import type {
  RateLimitDescriptor,
  RateLimitDescriptor_Entry,
} from "../gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import type { RateLimitRequest } from "../gen/envoy/service/ratelimit/v3/rls.js";
import type { DescriptorInput } from "./types.js";

/** How each descriptor counts: `hits` undefined leaves hits_addend unset (Envoy's default of 1). */
export interface HitsSpec {
  readonly hits: number | undefined;
  /** rls.proto descriptor `is_negative_hits` (field 4): the hits are a refund. */
  readonly negative: boolean;
}

export const DEFAULT_HITS: HitsSpec = Object.freeze({ hits: undefined, negative: false });

export function buildRequest(
  domain: string,
  descriptors: readonly DescriptorInput[],
  spec: HitsSpec,
): RateLimitRequest {
  if (typeof domain !== "string" || domain === "") throw new TypeError("domain must be a non-empty string");
  const hitsAddend = spec.hits === undefined ? undefined : toUint64(spec.hits);
  const out: RateLimitDescriptor[] = new Array(descriptors.length);
  for (let i = 0; i < descriptors.length; i++) {
    // ratelimit.proto descriptor `hits_addend` (UInt64Value, field 3): present, even 0, overrides the request's.
    out[i] = { entries: toEntries(descriptors[i]!, i), limit: undefined, hitsAddend, isNegativeHits: spec.negative };
  }
  return { domain, descriptors: out, hitsAddend: 0 };
}

function toEntries(d: DescriptorInput, i: number): RateLimitDescriptor_Entry[] {
  const entries: RateLimitDescriptor_Entry[] = [];
  if (Array.isArray(d)) {
    for (const [key, value] of d as readonly (readonly [string, string])[]) entries.push(entry(key, value, i));
  } else {
    const record = d as Readonly<Record<string, string>>;
    for (const key in record) entries.push(entry(key, record[key]!, i));
  }
  if (entries.length === 0) throw new TypeError(`descriptors[${i}] has no entries`);
  return entries;
}

function entry(key: string, value: string, i: number): RateLimitDescriptor_Entry {
  if (typeof key !== "string" || typeof value !== "string") {
    throw new TypeError(`descriptors[${i}]: entry keys and values must be strings`);
  }
  return { key, value };
}

function toUint64(n: number): bigint {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`hits must be a non-negative integer, got ${n}`);
  return BigInt(n);
}
