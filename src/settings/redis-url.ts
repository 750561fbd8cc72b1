/**
 * REDIS_URL and REDIS_AUTH formats (the reference's, plus redis:// and rediss:// URLs), parsed into addresses and
 * credentials kept apart, so that what logs show (`describeTarget`) never contains a password.
 */
import type { Problems } from "./problems.js";

/** REDIS_TYPE, lower-cased. */
export type RedisTopology = "single" | "sentinel" | "cluster";

/** One Redis (or sentinel, or cluster seed) address. */
export type RedisAddress =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

export interface RedisCredentials {
  /** ACL user; undefined for the legacy `AUTH password`. */
  readonly username: string | undefined;
  readonly password: string;
}

/** `password` or `user:password`, split at the first colon exactly as the reference (`strings.Cut`). */
export function parseCredentials(raw: string | undefined): RedisCredentials | undefined {
  if (raw === undefined) return undefined;
  const colon = raw.indexOf(":");
  if (colon < 0) return credentials(undefined, raw);
  const username = raw.slice(0, colon);
  return credentials(username === "" ? undefined : username, raw.slice(colon + 1));
}

/** Credentials that serialise without their password, should a settings object ever be logged whole. */
function credentials(username: string | undefined, password: string): RedisCredentials {
  const c = { username, password };
  Object.defineProperty(c, "toJSON", { value: () => ({ username, password: "[redacted]" }), enumerable: false });
  return c;
}

/** What a REDIS_URL says: addresses, the sentinel master name, and URL credentials, TLS and database if any. */
export interface ParsedUrl {
  readonly addresses: readonly RedisAddress[];
  readonly masterName: string | undefined;
  readonly auth: RedisCredentials | undefined;
  readonly tls: boolean;
  readonly db: number;
}

const EMPTY: ParsedUrl = { addresses: [], masterName: undefined, auth: undefined, tls: false, db: 0 };

/** Parses REDIS_URL for a topology (`name` is the variable, for problems); problems go to `p`. */
export function parseUrl(
  p: Problems,
  name: string,
  url: string,
  topology: RedisTopology,
  socketType: "tcp" | "unix" | undefined,
): ParsedUrl {
  if (topology === "single") return parseSingle(p, name, url, socketType);
  const parts = url.split(",").map((s) => s.trim());
  let masterName: string | undefined;
  if (topology === "sentinel") {
    masterName = parts.shift();
    if (masterName === undefined || masterName === "" || parts.length === 0) {
      p.add(`${name}=${JSON.stringify(url)}: sentinel format is <master name>,<sentinel host:port>,...`);
      return EMPTY;
    }
  }
  const nodes: ParsedNode[] = [];
  for (const part of parts) {
    const node = parseTcpNode(p, name, part);
    if (node === undefined) return EMPTY;
    if (node.auth !== undefined) {
      p.add(`${name}: put credentials in ${name.replace(/_URL$/, "_AUTH")}, not in a ${topology} address list`);
      return EMPTY;
    }
    if (node.db !== 0) {
      p.add(`${name}: a ${topology} address cannot select a database`);
      return EMPTY;
    }
    nodes.push(node);
  }
  const tls = nodes.some((n) => n.tls);
  if (tls && !nodes.every((n) => n.tls)) p.add(`${name}: mixes redis:// and rediss:// addresses`);
  return { addresses: nodes.map((n) => n.address), masterName, auth: undefined, tls, db: 0 };
}

function parseSingle(p: Problems, name: string, url: string, socketType: "tcp" | "unix" | undefined): ParsedUrl {
  const looksLikePath = url.startsWith("/") || url.startsWith("unix:");
  if (socketType === "unix" || (socketType === undefined && looksLikePath)) {
    const path = url.startsWith("unix://") ? url.slice("unix://".length) : url.replace(/^unix:/, "");
    if (!path.startsWith("/") && !path.startsWith(".")) {
      p.add(`${name}=${JSON.stringify(url)} is not a unix socket path (REDIS_SOCKET_TYPE is unix)`);
      return EMPTY;
    }
    return { ...EMPTY, addresses: [{ kind: "unix", path }] };
  }
  if (looksLikePath) {
    p.add(`${name}=${JSON.stringify(url)} is a socket path but the socket type is tcp`);
    return EMPTY;
  }
  const node = parseTcpNode(p, name, url);
  if (node === undefined) return EMPTY;
  return { addresses: [node.address], masterName: undefined, auth: node.auth, tls: node.tls, db: node.db };
}

interface ParsedNode {
  readonly address: RedisAddress;
  readonly auth: RedisCredentials | undefined;
  readonly tls: boolean;
  readonly db: number;
}

/** `host:port`, `[v6]:port`, or `redis[s]://[user:pass@]host[:port][/db]`. */
function parseTcpNode(p: Problems, name: string, text: string): ParsedNode | undefined {
  const scheme = /^(rediss?):\/\//i.exec(text)?.[1]?.toLowerCase();
  let u: URL;
  try {
    u = new URL(scheme === undefined ? `redis://${text}` : text);
  } catch {
    p.add(`${name}: ${JSON.stringify(redactUrl(text))} is not host:port or a redis:// URL`);
    return undefined;
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port === "" ? (scheme === undefined ? Number.NaN : 6379) : Number(u.port);
  if (host === "" || !Number.isInteger(port) || u.search !== "" || u.hash !== "") {
    p.add(`${name}: ${JSON.stringify(redactUrl(text))} is not host:port or a redis:// URL`);
    return undefined;
  }
  const path = u.pathname.replace(/^\//, "");
  const db = path === "" ? 0 : /^\d+$/.test(path) && scheme !== undefined ? Number(path) : Number.NaN;
  if (!Number.isInteger(db)) {
    p.add(`${name}: ${JSON.stringify(redactUrl(text))} has an invalid database number`);
    return undefined;
  }
  const password = safeDecode(u.password);
  const username = safeDecode(u.username);
  const auth = password !== "" ? credentials(username === "" ? undefined : username, password) : undefined;
  if (auth === undefined && username !== "") {
    p.add(`${name}: a URL user needs a password (redis://user:password@host:port)`);
    return undefined;
  }
  return { address: { kind: "tcp", host, port }, auth, tls: scheme === "rediss", db };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A URL with any `user:password@` part masked (for problems and logs). */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/, "//***@");
}

function formatAddress(a: RedisAddress): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The endpoint as logs show it: addresses only (e.g. `rediss://h:6380`, `sentinel m@h:1,h:2`). */
export function describeTarget(topology: RedisTopology, parsed: ParsedUrl, tls: boolean): string {
  const list = parsed.addresses.map(formatAddress).join(",");
  const scheme = tls ? "rediss" : "redis";
  if (topology === "sentinel") return `sentinel ${parsed.masterName ?? "?"}@${list}${tls ? " (tls)" : ""}`;
  if (topology === "cluster") return `cluster ${list}${tls ? " (tls)" : ""}`;
  const first = parsed.addresses[0];
  if (first?.kind === "unix") return list;
  return `${scheme}://${list}${parsed.db !== 0 ? `/${parsed.db}` : ""}`;
}
