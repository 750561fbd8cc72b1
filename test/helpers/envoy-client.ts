/**
 * An RLS client that shares no code with Sluice: @grpc/proto-loader over the official Envoy protos shipped in
 * @grpc/grpc-js-xds (deps/envoy-api), field names as on the wire (keepCase), enums as names. That proto snapshot
 * predates three upstream additions, which are added to the loaded descriptors exactly as upstream declares them
 * (data-plane-api): `RateLimitDescriptor.hits_addend = 3` (google.protobuf.UInt64Value), `is_negative_hits = 4`
 * (bool), and `RateLimitResponse.RateLimit.Unit.WEEK = 7`.
 */
import { existsSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { REPO } from "./sluice-process.js";

const DEPS = `${REPO}/node_modules/@grpc/grpc-js-xds/deps`;
const INCLUDE_DIRS = [`${DEPS}/envoy-api`, `${DEPS}/xds`, `${DEPS}/googleapis`, `${DEPS}/protoc-gen-validate`];

/** A google.protobuf.Value as protobufjs decodes it (well-known types keep camelCase names). */
export interface PbValue {
  readonly nullValue?: unknown;
  readonly numberValue?: number;
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  readonly structValue?: PbStruct;
  readonly listValue?: { readonly values?: readonly PbValue[] };
  readonly kind?: string;
}
export interface PbStruct {
  readonly fields?: Readonly<Record<string, PbValue>>;
}

export interface WireStatus {
  readonly code: string;
  readonly current_limit: { readonly requests_per_unit: number; readonly unit: string; readonly name: string } | null;
  readonly limit_remaining: number;
  readonly duration_until_reset: { readonly seconds: string; readonly nanos: number } | null;
}
export interface WireResponse {
  readonly overall_code: string;
  readonly statuses: readonly WireStatus[];
  readonly response_headers_to_add: readonly { readonly key: string; readonly value: string }[];
  readonly request_headers_to_add: readonly { readonly key: string; readonly value: string }[];
  readonly raw_body: Buffer;
  readonly dynamic_metadata: PbStruct | null;
}

export interface WireEntry {
  readonly key: string;
  readonly value?: string;
}
export interface WireDescriptor {
  readonly entries: readonly WireEntry[];
  readonly limit?: { readonly requests_per_unit: number; readonly unit: string | number };
  /** UInt64Value: `{ value: "n" }`. */
  readonly hits_addend?: { readonly value: string | number };
  readonly is_negative_hits?: boolean;
}
export interface WireRequest {
  readonly domain: string;
  readonly descriptors: readonly WireDescriptor[];
  readonly hits_addend?: number;
}

export interface EnvoyClient {
  ask(request: WireRequest): Promise<WireResponse>;
  close(): void;
}

interface RawClient extends grpc.Client {
  ShouldRateLimit(req: WireRequest, cb: (err: grpc.ServiceError | null, res: WireResponse) => void): void;
}

let definition: protoLoader.PackageDefinition | undefined;

function loadDefinition(): protoLoader.PackageDefinition {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const path = `${dir}/${target}`;
      if (existsSync(path)) return path;
    }
    return target;
  };
  root.loadSync("envoy/service/ratelimit/v3/rls.proto", { keepCase: true });
  root.loadSync("google/protobuf/wrappers.proto", { keepCase: true });
  const descriptor = root.lookupType("envoy.extensions.common.ratelimit.v3.RateLimitDescriptor");
  if (descriptor.fields["hits_addend"] === undefined) {
    descriptor.add(new protobuf.Field("hits_addend", 3, "google.protobuf.UInt64Value"));
    descriptor.add(new protobuf.Field("is_negative_hits", 4, "bool"));
  }
  const unit = root.lookupEnum("envoy.service.ratelimit.v3.RateLimitResponse.RateLimit.Unit");
  if (unit.values["WEEK"] === undefined) unit.add("WEEK", 7);
  root.resolveAll();
  return protoLoader.fromJSON(root.toJSON(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

/** Connects an independent client to `target` (`host:port`); cleartext unless `creds` says otherwise. */
export function createEnvoyClient(
  target: string,
  creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): EnvoyClient {
  definition ??= loadDefinition();
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: {
      service: {
        ratelimit: {
          v3: { RateLimitService: new (t: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => RawClient };
        };
      };
    };
  };
  const client = new pkg.envoy.service.ratelimit.v3.RateLimitService(target, creds, options);
  return {
    ask: (request) =>
      new Promise((res, rej) => client.ShouldRateLimit(request, (err, reply) => (err ? rej(err) : res(reply)))),
    close: () => client.close(),
  };
}

/** A descriptor of one entry, with any other descriptor fields (hits_addend, limit, ...). */
export function descriptor(key: string, value: string, extra: Omit<WireDescriptor, "entries"> = {}): WireDescriptor {
  return { entries: [{ key, value }], ...extra };
}

/** Resolves to the gRPC error of a call that must fail (fails the test if it succeeds). */
export async function callError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const outcome = await p.then(
    (res) => ({ ok: true as const, res }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`expected an error, got ${JSON.stringify(outcome.res)}`);
  return outcome.err as grpc.ServiceError;
}

/** google.protobuf.Struct → plain JSON. */
export function structToJson(s: PbStruct | null | undefined): unknown {
  if (s === null || s === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: PbValue): unknown {
  switch (v.kind) {
    case "structValue":
      return structToJson(v.structValue);
    case "listValue":
      return (v.listValue?.values ?? []).map(valueToJson);
    case "stringValue":
      return v.stringValue;
    case "numberValue":
      return v.numberValue;
    case "boolValue":
      return v.boolValue;
    default:
      return null;
  }
}

/** Seconds until the end of the current epoch-aligned window of `divider` seconds, at `nowMs`. */
export function resetAt(nowMs: number, divider: number): number {
  const now = Math.floor(nowMs / 1000);
  return divider - (now % divider);
}
