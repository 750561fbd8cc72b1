/** The client IP behind proxies: X-Forwarded-For is believed only as far as the trusted proxies reach. */
import { describe, expect, it } from "vitest";
import { createClientIpResolver } from "../../../src/middleware/client-ip.js";

describe("createClientIpResolver", () => {
  it("uses the socket peer and ignores X-Forwarded-For by default", () => {
    expect(createClientIpResolver()("127.0.0.1", "203.0.113.9")).toBe("127.0.0.1");
    expect(createClientIpResolver(false)("::1", undefined)).toBe("::1");
  });

  it("walks X-Forwarded-For from the peer back while the hop is a trusted address", () => {
    const ip = createClientIpResolver(["loopback", "10.0.0.0/8"]);
    expect(ip("127.0.0.1", "203.0.113.9, 10.1.2.3")).toBe("203.0.113.9");
    expect(ip("127.0.0.1", "203.0.113.9, 198.51.100.7")).toBe("198.51.100.7");
    expect(ip("192.0.2.1", "203.0.113.9")).toBe("192.0.2.1"); // the peer is not a proxy: header not believed
    expect(ip("127.0.0.1", undefined)).toBe("127.0.0.1");
    expect(createClientIpResolver("loopback, 10.0.0.0/8")("127.0.0.1", "203.0.113.9, 10.1.2.3")).toBe("203.0.113.9");
  });

  it("trusts a number of hops, or every hop", () => {
    expect(createClientIpResolver(1)("127.0.0.1", "203.0.113.9, 198.51.100.7")).toBe("198.51.100.7");
    expect(createClientIpResolver(2)("127.0.0.1", "203.0.113.9, 198.51.100.7")).toBe("203.0.113.9");
    expect(createClientIpResolver(true)("127.0.0.1", "203.0.113.9, 198.51.100.7")).toBe("203.0.113.9");
  });

  it("rejects a setting it cannot use at construction", () => {
    expect(() => createClientIpResolver("not-an-ip")).toThrow(/trustProxy: /);
    expect(() => createClientIpResolver(-1)).toThrow(/trustProxy: -1 is not a hop count/);
  });

  it("has no IP without a peer", () => {
    expect(createClientIpResolver(true)(undefined, "203.0.113.9")).toBeUndefined();
  });
});
