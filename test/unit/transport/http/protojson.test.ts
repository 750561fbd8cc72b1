import { describe, expect, it } from "vitest";
import { RateLimitUnit } from "../../../../src/gen/envoy/type/v3/ratelimit_unit.js";
import { ProtojsonError, requestFromProtojson } from "../../../../src/transport/http/protojson.js";

describe("requestFromProtojson()", () => {
  it("reads lowerCamelCase and proto field names, integers as numbers or strings, enums by name or number", () => {
    const out = requestFromProtojson({
      domain: "d",
      hits_addend: "3",
      descriptors: [
        {
          entries: [{ key: "k", value: "v" }, { key: "bare" }],
          limit: { requests_per_unit: 5, unit: "MINUTE" },
          hitsAddend: "18446744073709551615",
          is_negative_hits: true,
        },
        { entries: [{ key: "k" }], limit: { requestsPerUnit: "2", unit: 7 }, hits_addend: 0 },
      ],
    });
    expect(out).toEqual({
      domain: "d",
      hitsAddend: 3,
      descriptors: [
        {
          entries: [
            { key: "k", value: "v" },
            { key: "bare", value: "" },
          ],
          limit: { requestsPerUnit: 5, unit: RateLimitUnit.MINUTE },
          hitsAddend: 2n ** 64n - 1n,
          isNegativeHits: true,
        },
        {
          entries: [{ key: "k", value: "" }],
          limit: { requestsPerUnit: 2, unit: 7 },
          hitsAddend: 0n,
          isNegativeHits: false,
        },
      ],
    });
  });

  it("reads null as not set", () => {
    const out = requestFromProtojson({
      domain: null,
      hitsAddend: null,
      descriptors: [{ entries: null, limit: null, hitsAddend: null, isNegativeHits: null }],
    });
    expect(out).toEqual({
      domain: "",
      hitsAddend: 0,
      descriptors: [{ entries: [], limit: undefined, hitsAddend: undefined, isNegativeHits: false }],
    });
  });

  it.each([
    ["a non-object body", [], /body must be a JSON object/],
    ["an unknown top-level field", { domain: "d", bogus: 1 }, /bogus: unknown field/],
    ["a field given by both names", { hitsAddend: 1, hits_addend: 1 }, /hits_addend: duplicate field/],
    ["a number as the domain", { domain: 5 }, /domain: expected a JSON string/],
    ["descriptors that are not a list", { descriptors: {} }, /descriptors: expected a JSON array/],
    ["an unknown descriptor field", { descriptors: [{ entries: [], extra: 1 }] }, /descriptors\[0\]\.extra: unknown/],
    ["a number as an entry value", { descriptors: [{ entries: [{ key: "k", value: 1 }] }] }, /entries\[0\]\.value/],
    ["a wrapped UInt64Value", { descriptors: [{ hitsAddend: { value: 1 } }] }, /hits_addend: expected an integer/],
    ["a negative uint64", { descriptors: [{ hitsAddend: -1 }] }, /out of range/],
    ["a fractional uint32", { hitsAddend: 1.5 }, /hits_addend: expected an integer/],
    ["a uint32 past 2^32-1", { hitsAddend: 2 ** 32 }, /out of range/],
    ["an unknown unit name", { descriptors: [{ limit: { unit: "WEEK" } }] }, /"WEEK" is not a RateLimitUnit/],
    ["a string bool", { descriptors: [{ isNegativeHits: "true" }] }, /expected true or false/],
  ])("rejects %s", (_name, body, message) => {
    expect(() => requestFromProtojson(body)).toThrow(ProtojsonError);
    expect(() => requestFromProtojson(body)).toThrow(message);
  });
});
