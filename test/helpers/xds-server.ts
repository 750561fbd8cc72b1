/**
 * A real ADS management server for the tests, on @grpc/grpc-js, sharing no code with Sluice: the official
 * discovery protos shipped in @grpc/grpc-js-xds (deps/envoy-api) through @grpc/proto-loader, and the resources
 * encoded with protobufjs from a definition of envoyproxy/ratelimit's rls_conf.proto written here from its field
 * numbers. State of the world: `push()` sets the snapshot and sends it on every open stream; a new stream gets the
 * snapshot when its first request's version differs (as go-control-plane's snapshot cache does).
 */
import { existsSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { waitFor } from "./service.js";
import { REPO } from "./sluice-process.js";

const DEPS = `${REPO}/node_modules/@grpc/grpc-js-xds/deps`;
const INCLUDE_DIRS = [`${DEPS}/envoy-api`, `${DEPS}/xds`, `${DEPS}/googleapis`, `${DEPS}/protoc-gen-validate`];
export const RLS_TYPE_URL = "type.googleapis.com/ratelimit.config.ratelimit.v3.RateLimitConfig";

const RLS_CONF = `
syntax = "proto3";
package ratelimit.config.ratelimit.v3;
import "google/protobuf/struct.proto";
message RateLimitConfig { string name = 1; string domain = 2; repeated RateLimitDescriptor descriptors = 3; }
message RateLimitDescriptor {
  string key = 1; string value = 2; RateLimitPolicy rate_limit = 3; repeated RateLimitDescriptor descriptors = 4;
  bool shadow_mode = 5; bool detailed_metric = 6; bool quota_mode = 7; google.protobuf.Struct metadata = 8;
}
message RateLimitPolicy {
  RateLimitUnit unit = 1; uint32 requests_per_unit = 2; bool unlimited = 3; string name = 4;
  repeated RateLimitReplace replaces = 5;
}
message RateLimitReplace { string name = 1; }
enum RateLimitUnit { UNKNOWN = 0; SECOND = 1; MINUTE = 2; HOUR = 3; DAY = 4; WEEK = 7; MONTH = 5; YEAR = 6; }
`;

/** A RateLimitConfig as protobufjs takes it (snake_case; `metadata` as a plain object, converted to a Struct). */
export interface XdsRateLimitConfig {
  readonly name?: string;
  readonly domain: string;
  readonly descriptors?: readonly XdsDescriptor[];
}
export interface XdsDescriptor {
  readonly key: string;
  readonly value?: string;
  readonly rate_limit?: {
    readonly unit?: string | number;
    readonly requests_per_unit?: number;
    readonly unlimited?: boolean;
    readonly name?: string;
    readonly replaces?: readonly { readonly name: string }[];
  };
  readonly descriptors?: readonly XdsDescriptor[];
  readonly shadow_mode?: boolean;
  readonly detailed_metric?: boolean;
  readonly quota_mode?: boolean;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** A DiscoveryRequest as proto-loader decodes it (keepCase). */
export interface SeenRequest {
  readonly version_info: string;
  readonly node: { readonly id: string; readonly metadata: unknown } | null;
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail: { readonly code: number; readonly message: string } | null;
  /** The stream (1, 2, ...) it came on. */
  readonly stream: number;
  /** Request metadata (additional headers). */
  readonly headers: Readonly<Record<string, unknown>>;
}

export interface XdsServer {
  readonly port: number;
  readonly requests: SeenRequest[];
  /** Streams opened so far. */
  readonly streams: number;
  /** Sets the snapshot (version, resources) and sends it on every open stream; returns the nonce. */
  push(version: string, configs: readonly XdsRateLimitConfig[]): string;
  /** Sends raw Any resources (e.g. undecodable bytes) as `version`; returns the nonce. */
  pushRaw(version: string, resources: readonly { type_url: string; value: Buffer }[]): string;
  /** Waits for the ACK or NACK of `nonce` and returns it. */
  reply(nonce: string, timeoutMs?: number): Promise<SeenRequest>;
  close(): Promise<void>;
}

export interface XdsServerOptions {
  /** Port to bind (e.g. the previous server's, for a restart); 0 by default. */
  readonly port?: number;
  /** TLS with client certificates: the server's key and chain, and the CA that signs clients. */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer; readonly ca: Buffer };
  /** The snapshot served to new streams from the start. */
  readonly initial?: { readonly version: string; readonly configs: readonly XdsRateLimitConfig[] };
}

let loaded: { service: grpc.ServiceDefinition; config: protobuf.Type } | undefined;

function load(): NonNullable<typeof loaded> {
  const pkg = protoLoader.loadSync("envoy/service/discovery/v3/ads.proto", {
    keepCase: true,
    longs: String,
    defaults: true,
    includeDirs: INCLUDE_DIRS.filter((d) => existsSync(d)),
  });
  const grpcPkg = grpc.loadPackageDefinition(pkg) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: { service: grpc.ServiceDefinition } } } } };
  };
  const root = protobuf.parse(RLS_CONF, new protobuf.Root(), { keepCase: true }).root;
  root.addJSON(protobuf.common.get("google/protobuf/struct.proto")?.nested ?? {});
  root.resolveAll();
  return {
    service: grpcPkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service,
    config: root.lookupType("ratelimit.config.ratelimit.v3.RateLimitConfig"),
  };
}

/** Encodes one RateLimitConfig into an Any. */
export function encodeConfig(c: XdsRateLimitConfig): { type_url: string; value: Buffer } {
  loaded ??= load();
  const type = loaded.config;
  const plain = JSON.parse(JSON.stringify(c, (k, v) => (k === "metadata" ? toStruct(v) : v)));
  const message = type.fromObject(plain);
  const err = type.verify(message);
  if (err) throw new Error(`bad test resource: ${err}`);
  return { type_url: RLS_TYPE_URL, value: Buffer.from(type.encode(message).finish()) };
}

function toStruct(obj: Record<string, unknown>): unknown {
  const value = (v: unknown): unknown => {
    if (v === null) return { nullValue: 0 };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    if (typeof v === "object") return { structValue: toStruct(v as Record<string, unknown>) };
    if (typeof v === "number") return { numberValue: v };
    if (typeof v === "boolean") return { boolValue: v };
    return { stringValue: String(v) };
  };
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}

type Stream = grpc.ServerDuplexStream<Record<string, unknown>, Record<string, unknown>>;

export async function startXdsServer(options: XdsServerOptions = {}): Promise<XdsServer> {
  loaded ??= load();
  const server = new grpc.Server();
  const requests: SeenRequest[] = [];
  const open = new Set<Stream>();
  let streams = 0;
  let nonce = 0;
  let snapshot: { version: string; resources: readonly { type_url: string; value: Buffer }[] } | undefined =
    options.initial && { version: options.initial.version, resources: options.initial.configs.map(encodeConfig) };
  const send = (s: Stream, version: string): string => {
    const n = String(++nonce);
    s.write({ version_info: version, resources: snapshot?.resources ?? [], type_url: RLS_TYPE_URL, nonce: n });
    return n;
  };
  server.addService(loaded.service, {
    StreamAggregatedResources(stream: Stream) {
      const id = ++streams;
      open.add(stream);
      let first = true;
      stream.on("data", (req: Omit<SeenRequest, "stream" | "headers">) => {
        requests.push({ ...req, stream: id, headers: stream.metadata.getMap() });
        if (first && snapshot && req.version_info !== snapshot.version) send(stream, snapshot.version);
        first = false;
      });
      stream.on("end", () => stream.end());
      stream.on("error", () => {});
      stream.on("close", () => open.delete(stream));
    },
  });
  const creds = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.ca,
        [{ private_key: options.tls.key, cert_chain: options.tls.cert }],
        true,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  const pushResources = (version: string, resources: readonly { type_url: string; value: Buffer }[]): string => {
    snapshot = { version, resources };
    let last = "";
    for (const s of open) last = send(s, version);
    return last;
  };
  return {
    port,
    requests,
    get streams() {
      return streams;
    },
    push: (version, configs) => pushResources(version, configs.map(encodeConfig)),
    pushRaw: pushResources,
    async reply(n, timeoutMs = 10_000) {
      await waitFor(() => requests.some((r) => r.response_nonce === n), timeoutMs);
      return requests.find((r) => r.response_nonce === n) as SeenRequest;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.forceShutdown();
        resolve();
      }),
  };
}
