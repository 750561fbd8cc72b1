import { describe, expect, it } from "vitest";
import {
  MAX_MAPPED_DESCRIPTORS,
  MappingError,
  parseNginxMapping,
} from "../../../../src/transport/http/nginx-mapping.js";

describe("parseNginxMapping()", () => {
  it("reads the domain and one descriptor per parameter, entries in order, header names lower-cased", () => {
    const m = parseNginxMapping(
      "domain=nginx&descriptor=remote_address:X-Real-IP&descriptor=generic_key%3Dweb,tier:x-tier,user:x-user",
    );
    expect(m).toEqual({
      domain: "nginx",
      descriptors: [
        [{ key: "remote_address", header: "x-real-ip" }],
        [
          { key: "generic_key", literal: "web" },
          { key: "tier", header: "x-tier" },
          { key: "user", header: "x-user" },
        ],
      ],
    });
  });

  it("takes the first separator: a literal may contain ':' and a header entry's key may not contain '='", () => {
    expect(parseNginxMapping("domain=d&descriptor=api%3Dv1:search").descriptors).toEqual([
      [{ key: "api", literal: "v1:search" }],
    ]);
  });

  it.each([
    ["", "domain is missing"],
    ["descriptor=a:b", "domain is missing"],
    ["domain=", "domain is missing"],
    ["domain=a&domain=b&descriptor=a:b", "domain is given more than once"],
    ["domain=a", "no descriptor parameter"],
    ["domain=a&descriptor=", 'entry "" is not <key>:<header> or <key>=<value>'],
    ["domain=a&descriptor=user", 'entry "user" is not'],
    ["domain=a&descriptor=:x-user", 'entry ":x-user" is not'],
    ["domain=a&descriptor=user:x%20user", '"x user" is not a header name'],
    ["domain=a&descriptor=user:x-user&hits=2", 'unknown parameter "hits"'],
  ])("rejects %j: %s", (query, message) => {
    expect(() => parseNginxMapping(query)).toThrow(MappingError);
    expect(() => parseNginxMapping(query)).toThrow(message);
  });

  it("bounds the number of descriptors and entries", () => {
    const many = Array.from({ length: MAX_MAPPED_DESCRIPTORS + 1 }, () => "descriptor=a:b").join("&");
    expect(() => parseNginxMapping(`domain=d&${many}`)).toThrow(`more than ${MAX_MAPPED_DESCRIPTORS}`);
    const wide = Array.from({ length: 17 }, (_, i) => `k${i}:h`).join(",");
    expect(() => parseNginxMapping(`domain=d&descriptor=${wide}`)).toThrow("more than 16 entries");
  });
});
