/**
 * Decodes an Envoy YAML config as `envoy.config.bootstrap.v3.Bootstrap` with protobufjs over the official upstream
 * protos that @grpc/grpc-js-xds ships (deps/envoy-api), strictly: an unknown field, a wrong type, an unknown enum
 * name, two members of one oneof or an unknown `@type` fail with the YAML path. Every `typed_config` Any is decoded
 * as its own type and packed as real Any bytes, then the whole Bootstrap is encoded and decoded again.
 *
 * That proto snapshot predates a few upstream additions the demo needs. They are added to the loaded descriptors
 * exactly as upstream declares them (envoyproxy/envoy api/, field names, numbers and types as in COMPAT.md §5.1 and
 * api/envoy/extensions/filters/http/stream_to_metadata/v3/stream_to_metadata.proto), and `loadEnvoyRoot` refuses to
 * add one the snapshot already has, so the overlay shrinks as the snapshot catches up:
 * - `envoy.config.route.v3.RateLimit`: `hits_addend = 5` (`HitsAddend { number = 1 UInt64Value, format = 2 string,
 *   is_negative_hits = 3 bool }`), `apply_on_stream_done = 6`;
 * - `envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute.rate_limits = 3`: the snapshot types it as the
 *   filter's own `RateLimitConfig` (then `[#not-implemented-hide:]`); upstream now uses `config.route.v3.RateLimit`
 *   (the type Envoy's common ratelimit_config library reads, with hits_addend), same number, so it is retyped;
 * - the whole `envoy.extensions.filters.http.stream_to_metadata.v3.StreamToMetadata` filter config.
 */
import { existsSync } from "node:fs";
import protobuf from "protobufjs";
import { REPO } from "./sluice-process.js";

const DEPS = `${REPO}/node_modules/@grpc/grpc-js-xds/deps`;
const INCLUDE_DIRS = [
  `${DEPS}/envoy-api`,
  `${DEPS}/xds`,
  `${DEPS}/googleapis`,
  `${DEPS}/protoc-gen-validate`,
  `${REPO}/node_modules/protobufjs`, // google/protobuf/descriptor.proto
];

/** The upstream files whose types an Envoy demo config uses (the bootstrap plus every `@type` it names). */
const PROTO_FILES = [
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
];

/** Fields newer than the snapshot: [message, field, number, type, repeated]. */
export const NEWER_FIELDS: readonly (readonly [string, string, number, string, boolean])[] = [
  ["envoy.config.route.v3.RateLimit", "hits_addend", 5, "envoy.config.route.v3.RateLimit.HitsAddend", false],
  ["envoy.config.route.v3.RateLimit", "apply_on_stream_done", 6, "bool", false],
];
/** A field whose type upstream changed since the snapshot: [message, field, snapshot type, upstream type]. */
const RETYPED_FIELD = [
  "envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
  "rate_limits",
  "RateLimitConfig",
  "envoy.config.route.v3.RateLimit",
] as const;

/** Types newer than the snapshot, in protobufjs JSON form. */
const HITS_ADDEND: protobuf.INamespace = {
  nested: {
    HitsAddend: {
      fields: {
        number: { id: 1, type: "google.protobuf.UInt64Value" },
        format: { id: 2, type: "string" },
        is_negative_hits: { id: 3, type: "bool" },
      },
    },
  },
};
export const STREAM_TO_METADATA = "envoy.extensions.filters.http.stream_to_metadata.v3.StreamToMetadata";
const STREAM_TO_METADATA_JSON: protobuf.INamespace = {
  nested: {
    StreamToMetadata: {
      fields: {
        format: { id: 1, type: "Format" },
        rules: { id: 2, type: "Rule", rule: "repeated" },
        allowed_content_types: { id: 3, type: "string", rule: "repeated" },
        max_event_size: { id: 4, type: "google.protobuf.UInt32Value" },
      },
      nested: {
        Format: { values: { SERVER_SENT_EVENTS: 0 } },
        ValueType: { values: { PROTOBUF_VALUE: 0, STRING: 1, NUMBER: 2 } },
        MetadataDescriptor: {
          fields: {
            metadata_namespace: { id: 1, type: "string" },
            key: { id: 2, type: "string" },
            type: { id: 3, type: "ValueType" },
            preserve_existing_metadata_value: { id: 4, type: "bool" },
          },
        },
        JsonPathSelector: { fields: { path: { id: 1, type: "string", rule: "repeated" } } },
        Selector: {
          oneofs: { selector_type: { oneof: ["json_path"] } },
          fields: { json_path: { id: 1, type: "JsonPathSelector" } },
        },
        Rule: {
          fields: {
            selector: { id: 1, type: "Selector" },
            metadata_descriptors: { id: 2, type: "MetadataDescriptor", rule: "repeated" },
            stop_processing_on_match: { id: 3, type: "bool" },
          },
        },
      },
    },
  },
};

let cached: protobuf.Root | undefined;

/** The upstream protos plus the overlay above. Throws if the snapshot already has an overlaid field or type. */
export function loadEnvoyRoot(): protobuf.Root {
  if (cached !== undefined) return cached;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      if (existsSync(`${dir}/${target}`)) return `${dir}/${target}`;
    }
    return target;
  };
  for (const file of PROTO_FILES) root.loadSync(file, { keepCase: true });
  root.resolveAll();
  const rateLimit = root.lookupType("envoy.config.route.v3.RateLimit");
  if (rateLimit.nested?.["HitsAddend"] !== undefined) throw new Error("overlay: HitsAddend is upstream now");
  rateLimit.addJSON(HITS_ADDEND.nested ?? {});
  for (const [message, name, id, type, repeated] of NEWER_FIELDS) {
    const t = root.lookupType(message);
    if (t.fields[name] !== undefined) throw new Error(`overlay: ${message}.${name} is upstream now; remove it`);
    const absolute = type.includes(".") ? `.${type}` : type;
    const field = new protobuf.Field(name, id, absolute, repeated ? "repeated" : undefined);
    t.add(field);
    field.resolve();
  }
  const [message, name, snapshotType, upstreamType] = RETYPED_FIELD;
  const perRoute = root.lookupType(message);
  const old = perRoute.fields[name];
  if (old?.type !== snapshotType) throw new Error(`overlay: ${message}.${name} is no longer ${snapshotType}`);
  perRoute.remove(old);
  const retyped = new protobuf.Field(name, old.id, `.${upstreamType}`, "repeated");
  perRoute.add(retyped);
  retyped.resolve();
  if (root.lookup(STREAM_TO_METADATA) !== null) throw new Error("overlay: StreamToMetadata is upstream now");
  root.define("envoy.extensions.filters.http.stream_to_metadata.v3").addJSON(STREAM_TO_METADATA_JSON.nested ?? {});
  root.resolveAll();
  cached = root;
  return root;
}

/** A config the decoder rejects; the message starts with the YAML path. */
export class EnvoyConfigError extends Error {}

const TYPE_URL_PREFIX = "type.googleapis.com/";
const WRAPPERS = new Set(["UInt32Value", "UInt64Value", "Int32Value", "Int64Value", "BoolValue", "StringValue"]);

/** Decodes `doc` (parsed YAML) as `typeName`; returns the decoded message (after an encode/decode round trip). */
export function decodeEnvoyConfig(doc: unknown, typeName = "envoy.config.bootstrap.v3.Bootstrap"): protobuf.Message {
  const root = loadEnvoyRoot();
  const type = root.lookupType(typeName);
  const plain = toMessage(root, type, doc, "");
  const message = type.fromObject(plain);
  const problem = type.verify(message);
  if (problem !== null) throw new EnvoyConfigError(`verify: ${problem}`);
  return type.decode(type.encode(message).finish());
}

function fail(path: string, what: string): never {
  throw new EnvoyConfigError(`${path || "<root>"}: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function toMessage(root: protobuf.Root, type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (!isObject(value)) fail(path, `expected a ${type.fullName} mapping, got ${JSON.stringify(value)}`);
  const out: Record<string, unknown> = {};
  const oneofSeen = new Map<string, string>();
  for (const [name, v] of Object.entries(value)) {
    const field = type.fields[name];
    const at = path ? `${path}.${name}` : name;
    if (field === undefined) fail(at, `unknown field of ${type.fullName.slice(1)}`);
    if (field.partOf !== null && field.partOf !== undefined) {
      const other = oneofSeen.get(field.partOf.name);
      if (other !== undefined) fail(at, `oneof ${field.partOf.name} already set by ${other}`);
      oneofSeen.set(field.partOf.name, name);
    }
    out[name] = toField(root, field, v, at);
  }
  return out;
}

function toField(root: protobuf.Root, field: protobuf.Field, v: unknown, path: string): unknown {
  if (field instanceof protobuf.MapField) {
    if (!isObject(v)) fail(path, "expected a map");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toSingle(root, field, x, `${path}.${k}`)]));
  }
  if (field.repeated) {
    if (!Array.isArray(v)) fail(path, "expected a list");
    return v.map((x, i) => toSingle(root, field, x, `${path}[${i}]`));
  }
  return toSingle(root, field, v, path);
}

function toSingle(root: protobuf.Root, field: protobuf.Field, v: unknown, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === "string" && resolved.values[v] !== undefined) return v;
    if (typeof v === "number" && Object.values(resolved.values).includes(v)) return v;
    return fail(path, `${JSON.stringify(v)} is not a value of ${resolved.fullName.slice(1)}`);
  }
  if (resolved instanceof protobuf.Type) return toTyped(root, resolved, v, path);
  return toScalar(field.type, v, path);
}

function toTyped(root: protobuf.Root, type: protobuf.Type, v: unknown, path: string): unknown {
  const full = type.fullName.slice(1);
  if (full === "google.protobuf.Any") return toAny(root, v, path);
  if (full === "google.protobuf.Duration") return toDuration(v, path);
  if (full.startsWith("google.protobuf.") && WRAPPERS.has(type.name)) {
    const inner = type.fields["value"];
    if (inner === undefined) return fail(path, "wrapper without value");
    return { value: toScalar(inner.type, v, path) };
  }
  if (full === "google.protobuf.Struct" || full === "google.protobuf.Value") {
    return fail(path, `${full} is not supported by this decoder`);
  }
  return toMessage(root, type, v, path);
}

function toAny(root: protobuf.Root, v: unknown, path: string): unknown {
  if (!isObject(v)) return fail(path, "expected a typed_config mapping");
  const url = v["@type"];
  if (typeof url !== "string" || !url.startsWith(TYPE_URL_PREFIX)) return fail(path, "missing or odd @type");
  const name = url.slice(TYPE_URL_PREFIX.length);
  const type = root.lookup(name);
  if (!(type instanceof protobuf.Type)) return fail(path, `@type ${name} is not a known message`);
  const { "@type": _ignored, ...rest } = v;
  const inner = type.fromObject(toMessage(root, type, rest, path));
  return { type_url: url, value: type.encode(inner).finish() };
}

function toDuration(v: unknown, path: string): unknown {
  const m = typeof v === "string" ? /^(\d+)(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (m === null) return fail(path, `${JSON.stringify(v)} is not a duration like "1s" or "0.05s"`);
  return { seconds: Number(m[1]), nanos: Number((m[2] ?? "").padEnd(9, "0")) };
}

function toScalar(type: string, v: unknown, path: string): unknown {
  switch (type) {
    case "string":
      if (typeof v === "string") return v;
      break;
    case "bool":
      if (typeof v === "boolean") return v;
      break;
    case "double":
    case "float":
      if (typeof v === "number") return v;
      break;
    case "bytes":
      if (typeof v === "string") return v;
      break;
    default: {
      // int32, uint32, int64, uint64, sint*, fixed*: an integer, or a decimal string for 64-bit values.
      const unsigned = type.startsWith("uint") || type.startsWith("fixed");
      if (typeof v === "number" && Number.isInteger(v) && (!unsigned || v >= 0)) return v;
      if (typeof v === "string" && type.endsWith("64") && /^-?\d+$/.test(v)) return v;
    }
  }
  return fail(path, `${JSON.stringify(v)} is not a ${type}`);
}
