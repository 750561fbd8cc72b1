/**
 * TRACING_EXPORTER_PROTOCOL=grpc against a real OTLP/gRPC receiver (a @grpc/grpc-js server decoding
 * ExportTraceServiceRequest with protobufjs): a root span per call at TRACING_SAMPLING_RATE=1.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RateLimitRequest, RateLimitServiceClient } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";

/** The fields of OTLP's trace export this test reads (opentelemetry/proto/collector/trace/v1, trace/v1). */
const OTLP = protobuf.Root.fromJSON({
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: { rule: "repeated", type: "ResourceSpans", id: 1 } } },
    ResourceSpans: {
      fields: { resource: { type: "Resource", id: 1 }, scopeSpans: { rule: "repeated", type: "ScopeSpans", id: 2 } },
    },
    Resource: { fields: { attributes: { rule: "repeated", type: "KeyValue", id: 1 } } },
    KeyValue: { fields: { key: { type: "string", id: 1 }, value: { type: "AnyValue", id: 2 } } },
    AnyValue: {
      oneofs: { value: { oneof: ["stringValue", "intValue"] } },
      fields: { stringValue: { type: "string", id: 1 }, intValue: { type: "int64", id: 3 } },
    },
    ScopeSpans: { fields: { spans: { rule: "repeated", type: "Span", id: 2 } } },
    Span: {
      fields: {
        traceId: { type: "bytes", id: 1 },
        spanId: { type: "bytes", id: 2 },
        parentSpanId: { type: "bytes", id: 4 },
        name: { type: "string", id: 5 },
        attributes: { rule: "repeated", type: "KeyValue", id: 9 },
      },
    },
  },
});
const Request = OTLP.lookupType("ExportTraceServiceRequest");

interface Span {
  name: string;
  parentSpanId: Uint8Array;
  attributes: { key: string; value: { stringValue?: string } }[];
  service: string | undefined;
}

const spans: Span[] = [];
let receiver: Server;
let sluice: SluiceProcess;
let client: RateLimitServiceClient;
let root: string;

beforeAll(async () => {
  buildDist();
  const definition: ServiceDefinition = {
    export: {
      path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: Buffer) => m,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: (b: Buffer) => b,
    },
  };
  receiver = new Server();
  receiver.addService(definition, {
    export: (call: { request: Buffer }, cb: (err: null, res: Buffer) => void) => {
      const req = Request.toObject(Request.decode(call.request), { defaults: true }) as {
        resourceSpans: { resource: { attributes: Span["attributes"] }; scopeSpans: { spans: Span[] }[] }[];
      };
      for (const rs of req.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      cb(null, Buffer.alloc(0));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    receiver.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  root = await mkdtemp(join(tmpdir(), "sluice-tracing-grpc-"));
  await mkdir(join(root, "config"));
  await writeFile(
    join(root, "config", "config.yaml"),
    "domain: web\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 5 }\n",
  );
  sluice = new SluiceProcess({
    ...LOOPBACK_ENV,
    RUNTIME_ROOT: root,
    RUNTIME_WATCH_ROOT: "false",
    BACKEND_TYPE: "memory",
    TRACING_ENABLED: "true",
    TRACING_EXPORTER_PROTOCOL: "grpc",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  client = new RateLimitServiceClient((await sluice.started()).grpc, credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  client?.close();
  await sluice?.stop();
  receiver?.forceShutdown();
  await rm(root, { recursive: true, force: true });
});

it("exports a root span per call over OTLP/gRPC", async () => {
  const request = RateLimitRequest.fromPartial({
    domain: "web",
    descriptors: [{ entries: [{ key: "user", value: "a" }] }],
  });
  await new Promise((resolve, reject) =>
    client.shouldRateLimit(request, (err, res) => (err ? reject(err) : resolve(res))),
  );
  await waitFor(() => spans.length >= 1, 10_000);
  const [span] = spans as [Span];
  expect(span.name).toBe("envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit");
  expect(span.parentSpanId.length).toBe(0);
  expect(span.service).toBe("RateLimit");
  expect(span.attributes.find((a) => a.key === "ratelimit.overall_code")?.value.stringValue).toBe("OK");
});
