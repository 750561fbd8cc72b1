import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../../../src/domain/errors.js";
import type { Decision } from "../../../../src/domain/types.js";
import { MAX_HITS } from "../../../../src/domain/types.js";
import {
  type RateLimitRequest,
  RateLimitResponse,
  RateLimitResponse_Code,
  RateLimitResponse_RateLimit_Unit,
} from "../../../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { RateLimitUnit } from "../../../../src/gen/envoy/type/v3/ratelimit_unit.js";
import { fromRlsRequest, REQUEST_LIMITS, toRlsResponse } from "../../../../src/transport/grpc/map.js";

interface DescriptorIn {
  readonly entries?: readonly { readonly key: string; readonly value?: string }[];
  readonly limit?: { readonly requestsPerUnit: number; readonly unit: RateLimitUnit } | undefined;
  readonly hitsAddend?: bigint | undefined;
  readonly isNegativeHits?: boolean;
}

interface RequestIn {
  readonly domain: string;
  readonly hitsAddend?: number;
  readonly descriptors: readonly DescriptorIn[];
}

/** A decoded RateLimitRequest as the generated decoder would produce it. */
function req(r: RequestIn): RateLimitRequest {
  return {
    domain: r.domain,
    hitsAddend: r.hitsAddend ?? 0,
    descriptors: r.descriptors.map((d) => ({
      entries: (d.entries ?? []).map((e) => ({ key: e.key, value: e.value ?? "" })),
      limit: d.limit,
      hitsAddend: d.hitsAddend,
      isNegativeHits: d.isNegativeHits ?? false,
    })),
  };
}

const ONE: readonly DescriptorIn[] = [{ entries: [{ key: "k", value: "v" }] }];

describe("fromRlsRequest()", () => {
  it("maps domain and entries in order", () => {
    const out = fromRlsRequest(
      req({
        domain: "d",
        descriptors: [
          {
            entries: [
              { key: "a", value: "1" },
              { key: "b", value: "" },
            ],
          },
        ],
      }),
    );
    expect(out.domain).toBe("d");
    expect(out.descriptors).toEqual([
      {
        entries: [
          { key: "a", value: "1" },
          { key: "b", value: "" },
        ],
        limit: undefined,
        hits: 1,
        negative: false,
      },
    ]);
  });

  it.each([
    ["request hits_addend unset (0) counts 1", 0, undefined, 1],
    ["request hits_addend 1", 1, undefined, 1],
    ["request hits_addend 7", 7, undefined, 7],
    ["descriptor hits_addend 0 means check only", 7, 0n, 0],
    ["descriptor hits_addend overrides the request's", 7, 3n, 3],
    ["descriptor hits_addend present with request unset", 0, 5n, 5],
    ["huge descriptor hits_addend is clamped", 0, 2n ** 64n - 1n, MAX_HITS],
    ["request hits_addend uint32 max", 4_294_967_295, undefined, 4_294_967_295],
  ])("resolves hits: %s", (_name, requestHits, descriptorHits, expected) => {
    const out = fromRlsRequest(
      req({ domain: "d", hitsAddend: requestHits, descriptors: [{ ...ONE[0], hitsAddend: descriptorHits }] }),
    );
    expect(out.descriptors[0]?.hits).toBe(expected);
  });

  it("echoes the hits_addend fields exactly as sent, only when present", () => {
    const out = fromRlsRequest(
      req({ domain: "d", hitsAddend: 0, descriptors: [{ ...ONE[0], hitsAddend: 0n }, { ...ONE[0] }] }),
    );
    expect(out.hitsAddend).toBe(0);
    expect(out.descriptors[0]?.hitsAddend).toBe(0);
    expect(out.descriptors[1]).not.toHaveProperty("hitsAddend");
  });

  it("passes is_negative_hits through", () => {
    const out = fromRlsRequest(
      req({ domain: "d", descriptors: [{ ...ONE[0], hitsAddend: 2n, isNegativeHits: true }] }),
    );
    expect(out.descriptors[0]).toMatchObject({ hits: 2, negative: true });
  });

  it.each([
    [RateLimitUnit.SECOND, "second"],
    [RateLimitUnit.MINUTE, "minute"],
    [RateLimitUnit.HOUR, "hour"],
    [RateLimitUnit.DAY, "day"],
    [RateLimitUnit.MONTH, "month"],
    [RateLimitUnit.YEAR, "year"],
    [7 as RateLimitUnit, "week"], // not in envoy.type.v3.RateLimitUnit; the reference casts it to the response's WEEK
  ])("maps override unit %s to %s", (unit, expected) => {
    const out = fromRlsRequest(req({ domain: "d", descriptors: [{ ...ONE[0], limit: { requestsPerUnit: 9, unit } }] }));
    expect(out.descriptors[0]?.limit).toEqual({ requestsPerUnit: 9, unit: expected });
  });

  it.each([
    ["UNKNOWN", RateLimitUnit.UNKNOWN],
    ["UNRECOGNIZED", RateLimitUnit.UNRECOGNIZED],
    ["8 (the reference panics on it)", 8 as RateLimitUnit],
    ["99", 99 as RateLimitUnit],
  ])("rejects override unit %s", (_name, unit) => {
    const r = req({ domain: "d", descriptors: [{ ...ONE[0], limit: { requestsPerUnit: 1, unit } }] });
    expect(() => fromRlsRequest(r)).toThrow(InvalidRequestError);
    expect(() => fromRlsRequest(r)).toThrow(/descriptors\[0\]\.limit\.unit/);
  });

  it.each([
    ["negative", -1],
    ["fractional", 1.5],
    ["above uint32", 2 ** 32],
    ["NaN", Number.NaN],
  ])("rejects a %s override requests_per_unit (only protojson can carry one)", (_name, rpu) => {
    const r = req({
      domain: "d",
      descriptors: [{ ...ONE[0], limit: { requestsPerUnit: rpu, unit: RateLimitUnit.SECOND } }],
    });
    expect(() => fromRlsRequest(r)).toThrow(/requests_per_unit/);
  });

  it.each([
    ["negative", -1],
    ["fractional", 0.5],
    ["above uint32", 2 ** 32],
    ["NaN", Number.NaN],
  ])("rejects a %s request hits_addend", (_name, hits) => {
    expect(() => fromRlsRequest(req({ domain: "d", hitsAddend: hits, descriptors: ONE }))).toThrow(/hits_addend/);
  });

  it.each([
    ["negative", -1n],
    ["above uint64", 2n ** 64n],
  ])("rejects a %s descriptor hits_addend", (_name, hits) => {
    const r = req({ domain: "d", descriptors: [{ ...ONE[0], hitsAddend: hits }] });
    expect(() => fromRlsRequest(r)).toThrow(/descriptors\[0\]\.hits_addend/);
  });

  it("leaves empty domains and empty descriptor lists to the engine", () => {
    expect(fromRlsRequest(req({ domain: "", descriptors: [] }))).toEqual({
      domain: "",
      descriptors: [],
      hitsAddend: 0,
    });
  });

  it("accepts empty keys and values (the engine decides what they match)", () => {
    const out = fromRlsRequest(req({ domain: "d", descriptors: [{ entries: [{ key: "", value: "" }] }] }));
    expect(out.descriptors[0]?.entries).toEqual([{ key: "", value: "" }]);
  });

  it("accepts exactly the limits", () => {
    const long = "x".repeat(REQUEST_LIMITS.maxStringLength);
    const entries = Array.from({ length: REQUEST_LIMITS.maxEntries }, () => ({ key: "k", value: "v" }));
    const descriptors = Array.from({ length: REQUEST_LIMITS.maxDescriptors }, () => ({ entries: [{ key: "k" }] }));
    expect(fromRlsRequest(req({ domain: long, descriptors: [{ entries: [{ key: long, value: long }] }] })).domain).toBe(
      long,
    );
    expect(fromRlsRequest(req({ domain: "d", descriptors: [{ entries }] })).descriptors[0]?.entries).toHaveLength(
      REQUEST_LIMITS.maxEntries,
    );
    expect(fromRlsRequest(req({ domain: "d", descriptors })).descriptors).toHaveLength(REQUEST_LIMITS.maxDescriptors);
  });

  it.each([
    [
      "too many descriptors",
      { domain: "d", descriptors: Array.from({ length: 1025 }, () => ONE[0]) },
      /too many descriptors: 1025/,
    ],
    [
      "too many entries",
      { domain: "d", descriptors: [{ entries: Array.from({ length: 1025 }, () => ({ key: "k" })) }] },
      /descriptors\[0\]: too many entries: 1025/,
    ],
    ["a long domain", { domain: "d".repeat(65_537), descriptors: ONE }, /domain: 65537 characters is too long/],
    [
      "a long key",
      { domain: "d", descriptors: [{ entries: [{ key: "k".repeat(65_537) }] }] },
      /descriptors\[0\]\.entries\[0\]\.key/,
    ],
    [
      "a long value",
      { domain: "d", descriptors: [ONE[0], { entries: [{ key: "k", value: "v".repeat(65_537) }] }] },
      /descriptors\[1\]\.entries\[0\]\.value/,
    ],
  ])("rejects %s", (_name, partial, message) => {
    expect(() => fromRlsRequest(req(partial as RequestIn))).toThrow(message);
  });
});

describe("toRlsResponse()", () => {
  const decision: Decision = {
    storeMs: 0,
    overallCode: "OVER_LIMIT",
    statuses: [
      { code: "OK", currentLimit: undefined, limitRemaining: 0, durationUntilResetSeconds: undefined },
      {
        code: "OVER_LIMIT",
        currentLimit: { requestsPerUnit: 10, unit: "week", name: "per-week" },
        limitRemaining: 0,
        durationUntilResetSeconds: 42,
      },
      {
        code: "OK",
        currentLimit: { requestsPerUnit: 5, unit: "minute", name: undefined },
        limitRemaining: 4,
        durationUntilResetSeconds: 60,
      },
    ],
    responseHeaders: [{ key: "RateLimit-Limit", value: "10" }],
    dynamicMetadata: { domain: "d", descriptors: [{ entries: ["k=v"] }] },
  };

  it("maps codes, limits, remaining and reset", () => {
    const out = toRlsResponse(decision);
    expect(out.overallCode).toBe(RateLimitResponse_Code.OVER_LIMIT);
    expect(out.statuses).toEqual([
      {
        code: RateLimitResponse_Code.OK,
        currentLimit: undefined,
        limitRemaining: 0,
        durationUntilReset: undefined,
        quota: undefined,
      },
      {
        code: RateLimitResponse_Code.OVER_LIMIT,
        currentLimit: { name: "per-week", requestsPerUnit: 10, unit: RateLimitResponse_RateLimit_Unit.WEEK },
        limitRemaining: 0,
        durationUntilReset: { seconds: 42n, nanos: 0 },
        quota: undefined,
      },
      {
        code: RateLimitResponse_Code.OK,
        currentLimit: { name: "", requestsPerUnit: 5, unit: RateLimitResponse_RateLimit_Unit.MINUTE },
        limitRemaining: 4,
        durationUntilReset: { seconds: 60n, nanos: 0 },
        quota: undefined,
      },
    ]);
  });

  it.each([
    ["second", RateLimitResponse_RateLimit_Unit.SECOND],
    ["minute", RateLimitResponse_RateLimit_Unit.MINUTE],
    ["hour", RateLimitResponse_RateLimit_Unit.HOUR],
    ["day", RateLimitResponse_RateLimit_Unit.DAY],
    ["week", RateLimitResponse_RateLimit_Unit.WEEK],
    ["month", RateLimitResponse_RateLimit_Unit.MONTH],
    ["year", RateLimitResponse_RateLimit_Unit.YEAR],
  ] as const)("maps unit %s to the response enum", (unit, expected) => {
    const out = toRlsResponse({
      ...decision,
      statuses: [
        {
          code: "OK",
          currentLimit: { requestsPerUnit: 1, unit, name: undefined },
          limitRemaining: 1,
          durationUntilResetSeconds: 1,
        },
      ],
    });
    expect(out.statuses[0]?.currentLimit?.unit).toBe(expected);
  });

  it("maps headers and dynamic metadata and never sets raw_body, request headers or quota", () => {
    const out = toRlsResponse(decision);
    expect(out.responseHeadersToAdd.map((h) => [h.key, h.value])).toEqual([["RateLimit-Limit", "10"]]);
    expect(out.dynamicMetadata).toEqual({ domain: "d", descriptors: [{ entries: ["k=v"] }] });
    expect(out.rawBody.length).toBe(0);
    expect(out.requestHeadersToAdd).toEqual([]);
    expect(out.quota).toBeUndefined();
  });

  it("leaves dynamic metadata unset when the decision has none", () => {
    expect(toRlsResponse({ ...decision, dynamicMetadata: undefined }).dynamicMetadata).toBeUndefined();
  });

  it("clamps limit_remaining to uint32 so it never wraps on the wire", () => {
    const out = toRlsResponse({
      ...decision,
      statuses: [
        { code: "OK", currentLimit: undefined, limitRemaining: 2 ** 40, durationUntilResetSeconds: undefined },
      ],
    });
    expect(out.statuses[0]?.limitRemaining).toBe(4_294_967_295);
  });

  it("round-trips through the wire encoding, Struct included", () => {
    const bytes = RateLimitResponse.encode(toRlsResponse(decision)).finish();
    const back = RateLimitResponse.decode(bytes);
    expect(back.overallCode).toBe(RateLimitResponse_Code.OVER_LIMIT);
    expect(back.statuses[1]?.currentLimit?.name).toBe("per-week");
    expect(back.statuses[1]?.durationUntilReset?.seconds).toBe(42n);
    expect(back.dynamicMetadata).toEqual({ domain: "d", descriptors: [{ entries: ["k=v"] }] });
  });
});
