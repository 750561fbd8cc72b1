/**
 * `Retry-After` (LIMIT_RESPONSE_HEADERS_ENABLED=true), black box through `node dist/main.js` over gRPC: an over-limit
 * answer carries it with the reset header's seconds, for every algorithm; an answer that lets the request through
 * (global SHADOW_MODE, or a quota-mode descriptor over while another quota descriptor is not) does not, since the
 * client was not refused.
 */
import { describe, expect, it } from "vitest";
import { useCompat } from "../helpers/compat-process.js";
import { descriptor as d, type WireResponse } from "../helpers/envoy-client.js";

const RULES = `domain: ra
descriptors:
  - key: fixed
    rate_limit: {unit: hour, requests_per_unit: 1}
  - key: bucket
    rate_limit: {unit: hour, requests_per_unit: 1, algorithm: token_bucket}
  - key: sliding
    rate_limit: {unit: hour, requests_per_unit: 1, algorithm: sliding_window}
  - key: quota
    quota_mode: true
    rate_limit: {unit: hour, requests_per_unit: 1}
`;
const HEADERS = { LIMIT_RESPONSE_HEADERS_ENABLED: "true" };

function headers(res: WireResponse): Record<string, string> {
  return Object.fromEntries(res.response_headers_to_add.map((h) => [h.key, h.value]));
}

describe("Retry-After on over-limit answers", () => {
  const c = useCompat({ rules: { "config.yaml": RULES }, env: HEADERS });

  it.each(["fixed", "bucket", "sliding"])(
    "%s: over the limit, Retry-After = RateLimit-Reset = duration",
    async (key) => {
      await c.envoy.ask({ domain: "ra", descriptors: [d(key, "a")] });
      const allowed = headers(await c.envoy.ask({ domain: "ra", descriptors: [d(key, "b")] }));
      expect(allowed["Retry-After"]).toBeUndefined();
      const res = await c.envoy.ask({ domain: "ra", descriptors: [d(key, "a")] });
      expect(res.overall_code).toBe("OVER_LIMIT");
      const h = headers(res);
      expect(h["RateLimit-Remaining"]).toBe("0");
      expect(h["Retry-After"]).toBe(h["RateLimit-Reset"]);
      expect(h["Retry-After"]).toBe(res.statuses[0]?.duration_until_reset?.seconds);
      expect(Number(h["Retry-After"])).toBeGreaterThan(0);
    },
  );

  it("not when a quota-mode descriptor is over but the request passes", async () => {
    await c.envoy.ask({ domain: "ra", descriptors: [d("quota", "over")] });
    const res = await c.envoy.ask({ domain: "ra", descriptors: [d("quota", "over"), d("quota", "fresh")] });
    expect(res.overall_code).toBe("OK");
    expect(headers(res)["Retry-After"]).toBeUndefined();
  });
});

describe("Retry-After with SHADOW_MODE=true", () => {
  const c = useCompat({ rules: { "config.yaml": RULES }, env: { ...HEADERS, SHADOW_MODE: "true" } });

  it("is not sent: the request is let through", async () => {
    await c.envoy.ask({ domain: "ra", descriptors: [d("fixed", "a")] });
    const res = await c.envoy.ask({ domain: "ra", descriptors: [d("fixed", "a")] });
    expect(res.overall_code).toBe("OK");
    expect(headers(res)["RateLimit-Remaining"]).toBe("0");
    expect(headers(res)["Retry-After"]).toBeUndefined();
  });
});
