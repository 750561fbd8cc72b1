import { describe, expect, it } from "vitest";
import type { Decision, DescriptorStatus } from "../../../../src/domain/types.js";
import { rateLimitHeaders } from "../../../../src/transport/http/rate-limit-headers.js";

function status(
  code: DescriptorStatus["code"],
  rpu: number | undefined,
  remaining: number,
  reset?: number,
  name?: string,
): DescriptorStatus {
  return {
    code,
    currentLimit: rpu === undefined ? undefined : { requestsPerUnit: rpu, unit: "minute", name },
    limitRemaining: remaining,
    durationUntilResetSeconds: reset,
  };
}

function decision(statuses: DescriptorStatus[]): Decision {
  const over = statuses.some((s) => s.code === "OVER_LIMIT");
  return {
    overallCode: over ? "OVER_LIMIT" : "OK",
    statuses,
    responseHeaders: [],
    dynamicMetadata: undefined,
    storeMs: 0,
  };
}

describe("rateLimitHeaders() (Envoy's DRAFT_VERSION_03 headers plus Retry-After)", () => {
  it("picks the status with the fewest remaining and lists every limit's policy", () => {
    const h = rateLimitHeaders(decision([status("OK", 10, 7, 30), status("OK", 5, 2, 12, "per-user")]));
    expect(h).toEqual({
      limit: '5, 10;w=60, 5;w=60;name="per-user"',
      remaining: "2",
      reset: "12",
      retryAfter: undefined,
    });
  });

  it("adds Retry-After when over limit: the longest reset of the over-limit statuses, at least 1", () => {
    const h = rateLimitHeaders(decision([status("OVER_LIMIT", 10, 0, 40), status("OVER_LIMIT", 5, 0, 55)]));
    expect(h?.retryAfter).toBe("55");
    expect(rateLimitHeaders(decision([status("OVER_LIMIT", 1, 0, 0)]))?.retryAfter).toBe("1");
  });

  it("gives no headers when no status carries a limit (no rule matched, or unlimited)", () => {
    expect(rateLimitHeaders(decision([status("OK", undefined, 0)]))).toBeUndefined();
    expect(rateLimitHeaders(decision([]))).toBeUndefined();
  });
});
