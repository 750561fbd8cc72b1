/**
 * What Envoy's rate limit filter sends for a request, computed from an Envoy YAML config (COMPAT.md §5.2): the route
 * is the first whose prefix matches; its rate limits are the filter's per-route `rate_limits` if set, else the
 * route's; each rate limit whose every action yields an entry becomes one descriptor, entries in action order;
 * `apply_on_stream_done` ones are sent only when the stream completes; `hits_addend` is a number or a
 * `%DYNAMIC_METADATA(ns:key)%` substitution. An action kind this emulator does not know fails loudly.
 * Also the stream_to_metadata filter: the value at its json_path in the response's server-sent events.
 */
import type { WireDescriptor, WireRequest } from "./envoy-client.js";

type Obj = Record<string, unknown>;

export interface SampleRequest {
  readonly path: string;
  readonly remoteAddress: string;
  /** Lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Dynamic metadata: namespace → key → value. */
export type DynamicMetadata = Readonly<Record<string, Readonly<Record<string, number | string>>>>;

const RATE_LIMIT_FILTER = "envoy.filters.http.ratelimit";

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} is not a mapping`);
  return v as Obj;
}

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

/** The http_connection_manager of the first listener. */
function connectionManager(doc: unknown): Obj {
  const listener = list(obj(obj(doc, "doc")["static_resources"], "static_resources")["listeners"])[0];
  const filter = list(list(obj(listener, "listener")["filter_chains"])[0]?.["filters"])[0];
  return obj(obj(filter, "filter")["typed_config"], "typed_config");
}

function httpFilter(doc: unknown, name: string): Obj {
  const found = list(connectionManager(doc)["http_filters"]).find((f) => f["name"] === name);
  return obj(found?.["typed_config"], `${name} typed_config`);
}

/** The RateLimitRequest Envoy sends for `req` in this phase, or undefined when it sends none (no descriptor). */
export function envoyRequest(
  doc: unknown,
  req: SampleRequest,
  phase: "request" | "stream_done",
  metadata: DynamicMetadata = {},
): WireRequest | undefined {
  const hosts = list(obj(connectionManager(doc)["route_config"], "route_config")["virtual_hosts"]);
  const route = list(hosts[0]?.["routes"]).find((r) => req.path.startsWith(String(obj(r["match"], "match")["prefix"])));
  if (route === undefined) throw new Error(`no route for ${req.path}`);
  const perRoute = (route["typed_per_filter_config"] as Obj | undefined)?.[RATE_LIMIT_FILTER] as Obj | undefined;
  const rateLimits = list(perRoute?.["rate_limits"] ?? obj(route["route"], "route")["rate_limits"]);
  const domain = String(perRoute?.["domain"] ?? httpFilter(doc, RATE_LIMIT_FILTER)["domain"]);
  const descriptors: WireDescriptor[] = [];
  for (const rl of rateLimits) {
    if ((rl["apply_on_stream_done"] === true) !== (phase === "stream_done")) continue;
    const entries = entriesOf(list(rl["actions"]), req);
    if (entries === undefined) continue;
    const hits = hitsOf(rl["hits_addend"] as Obj | undefined, metadata);
    descriptors.push(hits === undefined ? { entries } : { entries, hits_addend: { value: hits } });
  }
  return descriptors.length === 0 ? undefined : { domain, descriptors };
}

function entriesOf(actions: Obj[], req: SampleRequest): { key: string; value: string }[] | undefined {
  const entries: { key: string; value: string }[] = [];
  for (const action of actions) {
    const [kind, raw] = Object.entries(action)[0] ?? [];
    const a = obj(raw, `action ${kind}`);
    if (kind === "remote_address") {
      entries.push({ key: "remote_address", value: req.remoteAddress });
    } else if (kind === "generic_key") {
      entries.push({ key: String(a["descriptor_key"] ?? "generic_key"), value: String(a["descriptor_value"]) });
    } else if (kind === "request_headers") {
      const name = String(a["header_name"]).toLowerCase();
      const value = name === ":path" ? req.path : req.headers?.[name];
      if (value === undefined) {
        if (a["skip_if_absent"] === true) continue;
        return undefined;
      }
      entries.push({ key: String(a["descriptor_key"]), value });
    } else {
      throw new Error(`the emulator does not implement the ${kind} action`);
    }
  }
  return entries;
}

function hitsOf(hits: Obj | undefined, metadata: DynamicMetadata): string | undefined {
  if (hits === undefined) return undefined;
  if (hits["number"] !== undefined) return String(hits["number"]);
  const m = /^%DYNAMIC_METADATA\(([^:]+):([^)]+)\)%$/.exec(String(hits["format"]));
  if (m === null) throw new Error(`the emulator does not implement hits_addend format ${String(hits["format"])}`);
  const value = metadata[m[1] ?? ""]?.[m[2] ?? ""];
  if (value === undefined) throw new Error(`no dynamic metadata ${m[1]}:${m[2]}`);
  return String(value);
}

/** The stream_to_metadata filter of `doc` applied to a server-sent-events body: the metadata it writes. */
export function streamToMetadata(doc: unknown, sseBody: string): DynamicMetadata {
  const config = httpFilter(doc, "envoy.filters.http.stream_to_metadata");
  const out: Record<string, Record<string, number | string>> = {};
  for (const event of sseBody.split("\n\n")) {
    const data = event
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trim())
      .join("\n");
    if (data === "" || data === "[DONE]") continue;
    const json = JSON.parse(data) as unknown;
    for (const rule of list(config["rules"])) {
      const path = obj(obj(rule["selector"], "selector")["json_path"], "json_path")["path"] as string[];
      let value: unknown = json;
      for (const key of path) value = typeof value === "object" && value !== null ? (value as Obj)[key] : undefined;
      if (typeof value !== "number" && typeof value !== "string") continue;
      for (const d of list(rule["metadata_descriptors"])) {
        const ns = String(d["metadata_namespace"]);
        out[ns] = { ...out[ns], [String(d["key"])]: value };
      }
    }
  }
  return out;
}
