/**
 * RLS response → the SDK's plain result: codes, per-descriptor remaining and reset (Duration seconds + nanos), the
 * descriptor closest to its limit, and retry-after as the longest reset over the OVER_LIMIT descriptors.
 */
import { describe, expect, it } from "vitest";
import { toResult } from "../../../src/client/result.js";
import {
  RateLimitResponse_Code as Code,
  type RateLimitResponse,
  type RateLimitResponse_DescriptorStatus,
  RateLimitResponse_RateLimit_Unit as Unit,
} from "../../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { limitHeaders, retryAfterSeconds } from "../../../src/middleware/headers.js";

function status(code: Code, remaining: number, resetS: number | undefined, rpu = 10, unit = Unit.MINUTE) {
  const s: RateLimitResponse_DescriptorStatus = {
    code,
    currentLimit: { name: `r${rpu}`, requestsPerUnit: rpu, unit },
    limitRemaining: remaining,
    durationUntilReset: resetS === undefined ? undefined : { seconds: BigInt(resetS), nanos: 250_000_000 },
  };
  return s;
}

function response(overallCode: Code, statuses: RateLimitResponse_DescriptorStatus[]): RateLimitResponse {
  return { overallCode, statuses, responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: Buffer.alloc(0) };
}

describe("toResult", () => {
  it("reports the descriptor closest to its limit, with its limit and reset", () => {
    const r = toResult(response(Code.OK, [status(Code.OK, 7, 30), status(Code.OK, 2, 3000, 100, Unit.HOUR)]));
    expect(r).toMatchObject({
      allowed: true,
      code: "OK",
      remaining: 2,
      resetAfterMs: 3_000_250,
      retryAfterMs: undefined,
    });
    expect(r.limit).toEqual({ name: "r100", requestsPerUnit: 100, unit: "hour" });
    expect(r.descriptors.map((d) => d.resetAfterMs)).toEqual([30_250, 3_000_250]);
  });

  it("retry-after is the longest reset over the OVER_LIMIT descriptors; unmatched descriptors have no limit", () => {
    const r = toResult(
      response(Code.OVER_LIMIT, [
        status(Code.OVER_LIMIT, 0, 5),
        { code: Code.OK, limitRemaining: 0 },
        status(Code.OVER_LIMIT, 0, 40, 3, Unit.WEEK),
        status(Code.OK, 1, 3600),
      ]),
    );
    expect(r).toMatchObject({ allowed: false, code: "OVER_LIMIT", retryAfterMs: 40_250, remaining: 0 });
    expect(r.descriptors[1]).toEqual({ code: "OK", limit: undefined, remaining: 0, resetAfterMs: undefined });
    expect(r.descriptors[2]?.limit?.unit).toBe("week");
    expect(retryAfterSeconds(r)).toBe(41);
    expect(Object.fromEntries(limitHeaders(r))).toEqual({
      "RateLimit-Limit": "10",
      "RateLimit-Remaining": "0",
      "RateLimit-Reset": "6",
      "X-RateLimit-Limit": "10",
      "X-RateLimit-Remaining": "0",
      "X-RateLimit-Reset": "6",
    });
  });

  it("UNKNOWN overall code is allowed; no limits means no headers", () => {
    const r = toResult(response(Code.UNKNOWN, [{ code: Code.OK, limitRemaining: 0 }]));
    expect(r).toMatchObject({ allowed: true, code: "UNKNOWN", limit: undefined, remaining: undefined });
    expect(limitHeaders(r)).toEqual([]);
  });
});
