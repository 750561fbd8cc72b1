import { describe, expect, it } from "vitest";
import type { RateLimitRequest } from "../../../src/domain/types.js";
import { describeDescriptors } from "../../../src/transport/log-descriptors.js";

function request(...descriptors: [string, string][][]): RateLimitRequest {
  return {
    domain: "d",
    descriptors: descriptors.map((entries) => ({
      entries: entries.map(([key, value]) => ({ key, value })),
      limit: undefined,
      hits: 1,
      negative: false,
    })),
  } as unknown as RateLimitRequest;
}

describe("describeDescriptors()", () => {
  it("writes each descriptor as key=value pairs", () => {
    expect(
      describeDescriptors(
        request(
          [
            ["remote_address", "10.0.0.1"],
            ["path", "/a"],
          ],
          [["user", "bob"]],
        ),
      ),
    ).toEqual(["remote_address=10.0.0.1,path=/a", "user=bob"]);
  });

  it.each(["authorization", "Cookie", "x-api-key", "api_key", "token", "password", "client_secret", "session_id"])(
    "never writes the value under %s",
    (key) => {
      expect(describeDescriptors(request([[key, "s3cr3t"]]))).toEqual([`${key}=[REDACTED]`]);
    },
  );
});
