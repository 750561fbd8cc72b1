/**
 * The client's IP with a trusted-proxy setting for X-Forwarded-For, through proxy-addr (the library Express's own
 * `trust proxy` uses): the address is the first one, walking X-Forwarded-For from the socket peer backwards, that is
 * not a trusted proxy. Untrusted clients can put anything in X-Forwarded-For, so nothing is trusted by default.
 */
import type { IncomingMessage } from "node:http";
import proxyaddr from "proxy-addr";

/**
 * `false` (default): the socket peer, X-Forwarded-For ignored. `true`: trust every hop (the leftmost address; only
 * behind a proxy that overwrites the header). A number: trust that many hops next to the server. A string or list:
 * trusted proxy addresses or CIDRs, or proxy-addr's names `loopback`, `linklocal`, `uniquelocal`.
 */
export type TrustProxy = boolean | number | string | readonly string[];

/** Returns the client IP for a socket peer and the X-Forwarded-For header (undefined when the peer is unknown). */
export type ClientIpResolver = (
  remoteAddress: string | undefined,
  forwardedFor: string | undefined,
) => string | undefined;

export function createClientIpResolver(trust: TrustProxy = false): ClientIpResolver {
  if (trust === false) return (remoteAddress) => remoteAddress;
  const test = compileTrust(trust);
  return (remoteAddress, forwardedFor) => {
    if (remoteAddress === undefined) return undefined;
    // proxy-addr reads these two fields of a node:http request.
    const req = {
      headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
      socket: { remoteAddress },
      connection: { remoteAddress },
    } as unknown as IncomingMessage;
    return proxyaddr(req, test);
  };
}

function compileTrust(trust: Exclude<TrustProxy, false>): (addr: string, i: number) => boolean {
  if (trust === true) return () => true;
  if (typeof trust === "number") {
    if (!Number.isInteger(trust) || trust < 0) throw new TypeError(`trustProxy: ${trust} is not a hop count`);
    return (_addr, i) => i < trust;
  }
  try {
    return proxyaddr.compile(typeof trust === "string" ? trust.split(",").map((s) => s.trim()) : [...trust]);
  } catch (err) {
    throw new TypeError(`trustProxy: ${(err as Error).message}`);
  }
}
