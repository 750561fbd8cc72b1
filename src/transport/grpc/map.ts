/**
 * Wire ⇄ domain mapping for ShouldRateLimit: the generated RLS v3 messages in, domain types out, and back. Shared by
 * gRPC and HTTP /json (which parses protojson into the same generated message). Total functions: every malformed input
 * becomes an InvalidRequestError, never a crash. Proto3 quirks are handled here, citing the proto field.
 */
import { InvalidRequestError } from "../../domain/errors.js";
import {
  type Decision,
  type Descriptor,
  type DescriptorStatus,
  type Entry,
  type LimitOverride,
  MAX_HITS,
  type RateLimitRequest,
  type Unit,
} from "../../domain/types.js";
import type { RateLimitDescriptor } from "../../gen/envoy/extensions/common/ratelimit/v3/ratelimit.js";
import {
  RateLimitResponse_Code,
  RateLimitResponse_RateLimit_Unit,
  type RateLimitRequest as RlsRequest,
  type RateLimitResponse as RlsResponse,
  type RateLimitResponse_DescriptorStatus as RlsStatus,
} from "../../gen/envoy/service/ratelimit/v3/rls.js";
import { RateLimitUnit } from "../../gen/envoy/type/v3/ratelimit_unit.js";

/**
 * Request-size limits, documented in the README. The message-size bound is enforced by the gRPC server (h2grpc,
 * RESOURCE_EXHAUSTED) and by the /json body reader (413); the counts and lengths here answer INVALID_ARGUMENT / 400.
 * Real Envoy requests are far below all of them (a handful of descriptors with a few short entries each).
 */
export const REQUEST_LIMITS = Object.freeze({
  /** Largest accepted request message (gRPC) or /json body, in bytes. */
  maxMessageBytes: 1024 * 1024,
  /** Descriptors per request. */
  maxDescriptors: 1024,
  /** Entries per descriptor. */
  maxEntries: 1024,
  /** Characters in a domain, an entry key or an entry value. */
  maxStringLength: 64 * 1024,
});

const UINT32_MAX = 4_294_967_295;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * `envoy.type.v3.RateLimitUnit` (request overrides) → domain Unit. That enum has no WEEK, but the reference casts the
 * number to the response enum (`RateLimitResponse_RateLimit_Unit(unit)`), where 7 is WEEK, so a client sending 7 gets
 * a weekly limit there; Sluice does the same. UNKNOWN (and any other number, on which the reference panics) has no
 * window.
 */
const OVERRIDE_UNITS: ReadonlyMap<RateLimitUnit, Unit> = new Map([
  [RateLimitUnit.SECOND, "second"],
  [RateLimitUnit.MINUTE, "minute"],
  [RateLimitUnit.HOUR, "hour"],
  [RateLimitUnit.DAY, "day"],
  [RateLimitUnit.MONTH, "month"],
  [RateLimitUnit.YEAR, "year"],
  [7 as RateLimitUnit, "week"],
]);

/** Domain Unit → `RateLimitResponse.RateLimit.Unit` (the response enum, which does have WEEK = 7). */
const RESPONSE_UNITS: Readonly<Record<Unit, RateLimitResponse_RateLimit_Unit>> = {
  second: RateLimitResponse_RateLimit_Unit.SECOND,
  minute: RateLimitResponse_RateLimit_Unit.MINUTE,
  hour: RateLimitResponse_RateLimit_Unit.HOUR,
  day: RateLimitResponse_RateLimit_Unit.DAY,
  week: RateLimitResponse_RateLimit_Unit.WEEK,
  month: RateLimitResponse_RateLimit_Unit.MONTH,
  year: RateLimitResponse_RateLimit_Unit.YEAR,
};

/**
 * Maps a decoded RateLimitRequest to the domain request. Throws InvalidRequestError for anything the engine cannot
 * answer as sent (limits above, unknown override unit, out-of-range numbers that only protojson can produce).
 * Empty domain and empty descriptor lists are left to the engine, which owns those rules.
 */
export function fromRlsRequest(req: RlsRequest): RateLimitRequest {
  checkString(req.domain, "domain");
  if (req.descriptors.length > REQUEST_LIMITS.maxDescriptors) {
    throw new InvalidRequestError(
      `too many descriptors: ${req.descriptors.length} (at most ${REQUEST_LIMITS.maxDescriptors})`,
    );
  }
  const requestHits = requestHitsAddend(req.hitsAddend);
  const descriptors = req.descriptors.map((d, i) => toDescriptor(d, i, requestHits));
  // `hitsAddend` echoes the field as sent, for RESPONSE_DYNAMIC_METADATA only.
  return { domain: req.domain, descriptors, hitsAddend: req.hitsAddend };
}

/**
 * rls.proto `RateLimitRequest.hits_addend` (uint32, field 3): "If the value is not set in the message, a request
 * increases the matched limit by 1". proto3 decodes "not set" as 0, hence max(1, n) — as the reference's
 * GetHitsAddends. Only protojson can carry a value outside uint32.
 */
function requestHitsAddend(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) {
    throw new InvalidRequestError(`hits_addend: ${String(n)} is not a uint32`);
  }
  return Math.max(1, n);
}

function toDescriptor(d: RateLimitDescriptor, i: number, requestHits: number): Descriptor {
  const where = `descriptors[${i}]`;
  if (d.entries.length > REQUEST_LIMITS.maxEntries) {
    throw new InvalidRequestError(
      `${where}: too many entries: ${d.entries.length} (at most ${REQUEST_LIMITS.maxEntries})`,
    );
  }
  const entries: Entry[] = d.entries.map((e, j) => {
    checkString(e.key, `${where}.entries[${j}].key`);
    checkString(e.value, `${where}.entries[${j}].value`);
    return { key: e.key, value: e.value };
  });
  const descriptor: Descriptor = {
    entries,
    limit: d.limit === undefined ? undefined : toOverride(d.limit.requestsPerUnit, d.limit.unit, where),
    hits: descriptorHits(d.hitsAddend, requestHits, where),
    // ratelimit.proto `RateLimitDescriptor.is_negative_hits` (bool, field 4): the addend is a refund.
    negative: d.isNegativeHits,
  };
  // Echo of the descriptor-level field as sent (present only when it was on the wire), for dynamic metadata.
  return d.hitsAddend === undefined ? descriptor : { ...descriptor, hitsAddend: Number(d.hitsAddend) };
}

/**
 * ratelimit.proto `RateLimitDescriptor.hits_addend` (google.protobuf.UInt64Value, field 3): "If set the value will
 * override the request level hits_addend" — present means used, including 0 ("check without counting"). A uint64
 * above MAX_HITS is over every uint32 limit anyway, so it is clamped rather than rejected: an answer, not an error.
 */
function descriptorHits(addend: bigint | undefined, requestHits: number, where: string): number {
  if (addend === undefined) return requestHits;
  if (addend < 0n || addend > UINT64_MAX) {
    throw new InvalidRequestError(`${where}.hits_addend: ${addend} is not a uint64`);
  }
  return addend > BigInt(MAX_HITS) ? MAX_HITS : Number(addend);
}

/**
 * ratelimit.proto `RateLimitDescriptor.limit` (RateLimitOverride: requests_per_unit uint32 = 1,
 * unit envoy.type.v3.RateLimitUnit = 2). UNKNOWN (or a number outside the enum) has no window; the reference panics
 * on it, Sluice answers INVALID_ARGUMENT.
 */
function toOverride(requestsPerUnit: number, unit: RateLimitUnit, where: string): LimitOverride {
  const domainUnit = OVERRIDE_UNITS.get(unit);
  if (domainUnit === undefined) {
    throw new InvalidRequestError(`${where}.limit.unit: ${RateLimitUnit[unit] ?? String(unit)} is not a known unit`);
  }
  if (!Number.isInteger(requestsPerUnit) || requestsPerUnit < 0 || requestsPerUnit > UINT32_MAX) {
    throw new InvalidRequestError(`${where}.limit.requests_per_unit: ${String(requestsPerUnit)} is not a uint32`);
  }
  return { requestsPerUnit, unit: domainUnit };
}

function checkString(value: string, where: string): void {
  if (value.length > REQUEST_LIMITS.maxStringLength) {
    throw new InvalidRequestError(
      `${where}: ${value.length} characters is too long (at most ${REQUEST_LIMITS.maxStringLength})`,
    );
  }
}

/** Maps a Decision to the RLS response. `raw_body`, `request_headers_to_add` and `quota` are never set (as the reference). */
export function toRlsResponse(decision: Decision): RlsResponse {
  return {
    overallCode: toCode(decision.overallCode),
    statuses: decision.statuses.map(toStatus),
    responseHeadersToAdd: decision.responseHeaders.map((h) => ({ key: h.key, value: h.value, rawValue: EMPTY })),
    requestHeadersToAdd: [],
    rawBody: EMPTY,
    // rls.proto `dynamic_metadata` (google.protobuf.Struct, field 6); ts-proto wraps a plain object into a Struct.
    dynamicMetadata: decision.dynamicMetadata === undefined ? undefined : { ...decision.dynamicMetadata },
    quota: undefined,
  };
}

const EMPTY = Buffer.alloc(0);

function toCode(code: Decision["overallCode"]): RateLimitResponse_Code {
  return code === "OVER_LIMIT" ? RateLimitResponse_Code.OVER_LIMIT : RateLimitResponse_Code.OK;
}

/** DescriptorStatus: code = 1, current_limit = 2 (with name = 3), limit_remaining = 3 (uint32), duration_until_reset = 4. */
function toStatus(s: DescriptorStatus): RlsStatus {
  return {
    code: toCode(s.code),
    currentLimit:
      s.currentLimit === undefined
        ? undefined
        : {
            name: s.currentLimit.name ?? "",
            requestsPerUnit: clampUint32(s.currentLimit.requestsPerUnit),
            unit: RESPONSE_UNITS[s.currentLimit.unit],
          },
    limitRemaining: clampUint32(s.limitRemaining),
    durationUntilReset:
      s.durationUntilResetSeconds === undefined
        ? undefined
        : { seconds: BigInt(Math.max(0, Math.trunc(s.durationUntilResetSeconds))), nanos: 0 },
    quota: undefined,
  };
}

/** uint32 fields wrap on encode; never let a wrapped value reach Envoy. */
function clampUint32(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  return n >= UINT32_MAX ? UINT32_MAX : Math.trunc(n);
}
