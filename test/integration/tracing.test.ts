/**
 * TRACING_ENABLED against a real OTLP/HTTP receiver in the test: `node dist/main.js` exports one SERVER span per
 * ShouldRateLimit with the domain, descriptor count, overall code and store time, continuing the caller's W3C
 * traceparent or B3 trace, with the TRACING_SERVICE_* resource; TRACING_SAMPLING_RATE=0 keeps only calls whose
 * caller sampled them; LOG_FORMAT=json lines written during a traced call carry its trace id.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  RateLimitRequest,
  type RateLimitResponse,
  RateLimitServiceClient,
} from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { waitFor } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, SluiceProcess } from "../helpers/sluice-process.js";

interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
}
interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: readonly { key: string; value: OtlpValue }[];
}
interface ReceivedSpan extends OtlpSpan {
  readonly resource: Readonly<Record<string, OtlpValue>>;
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const B3_TRACE_ID = "80f198ee56343ba864fe8b2a57d3eff7";
const B3_PARENT_ID = "e457b5a2e4d86bd1";

let receiver: Server;
const spans: ReceivedSpan[] = [];
const exportHeaders: string[] = [];
let sluice: SluiceProcess;
let client: RateLimitServiceClient;
let root: string;

beforeAll(async () => {
  buildDist();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    exportHeaders.push(String(req.headers["x-tenant"]));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: OtlpValue }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const resource = Object.fromEntries(rs.resource.attributes.map((a) => [a.key, a.value]));
        for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ ...span, resource });
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const port = (receiver.address() as AddressInfo).port;
  root = await mkdtemp(join(tmpdir(), "sluice-tracing-"));
  await mkdir(join(root, "config"));
  await writeFile(
    join(root, "config", "config.yaml"),
    "domain: web\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 1 }\n",
  );
  sluice = new SluiceProcess({
    ...LOOPBACK_ENV,
    RUNTIME_ROOT: root,
    RUNTIME_WATCH_ROOT: "false",
    BACKEND_TYPE: "memory",
    LOG_LEVEL: "debug",
    TRACING_ENABLED: "true",
    TRACING_SERVICE_NAME: "sluice-test",
    TRACING_SERVICE_NAMESPACE: "rl",
    TRACING_SERVICE_INSTANCE_ID: "instance-1",
    TRACING_EXPORTER_PROTOCOL: "http",
    TRACING_SAMPLING_RATE: "0",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
    OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=acme",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  const started = await sluice.started();
  client = new RateLimitServiceClient(started.grpc, credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  client?.close();
  await sluice?.stop();
  receiver?.close();
  await rm(root, { recursive: true, force: true });
});

function ask(user: string, headers: Record<string, string>): Promise<RateLimitResponse> {
  const md = new Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const request = RateLimitRequest.fromPartial({
    domain: "web",
    descriptors: [{ entries: [{ key: "user", value: user }] }],
  });
  return new Promise((resolve, reject) =>
    client.shouldRateLimit(request, md, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

function attr(span: OtlpSpan, key: string): string | number | undefined {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue);
}

describe("tracing", () => {
  it("exports one span per call that continues the caller's W3C trace", async () => {
    await ask("alice", { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    await ask("alice", { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    await waitFor(() => spans.filter((s) => s.traceId === TRACE_ID).length === 2, 10_000);
    const [first, second] = spans.filter((s) => s.traceId === TRACE_ID) as [ReceivedSpan, ReceivedSpan];
    expect(first.parentSpanId).toBe(PARENT_ID);
    expect(first.name).toBe("envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit");
    expect(first.kind).toBe(2); // SPAN_KIND_SERVER
    expect(attr(first, "ratelimit.domain")).toBe("web");
    expect(attr(first, "ratelimit.descriptors")).toBe(1);
    expect(attr(first, "ratelimit.overall_code")).toBe("OK");
    expect(attr(second, "ratelimit.overall_code")).toBe("OVER_LIMIT");
    expect(attr(first, "ratelimit.store.duration_ms")).toBeGreaterThanOrEqual(0);
    expect(first.resource["service.name"]?.stringValue).toBe("sluice-test");
    expect(first.resource["service.namespace"]?.stringValue).toBe("rl");
    expect(first.resource["service.instance.id"]?.stringValue).toBe("instance-1");
    expect(exportHeaders[0]).toBe("acme"); // OTEL_EXPORTER_OTLP_HEADERS, read by the exporter
  });

  it("continues a B3 trace", async () => {
    await ask("bob", { b3: `${B3_TRACE_ID}-${B3_PARENT_ID}-1` });
    await waitFor(() => spans.some((s) => s.traceId === B3_TRACE_ID), 10_000);
    expect(spans.find((s) => s.traceId === B3_TRACE_ID)?.parentSpanId).toBe(B3_PARENT_ID);
  });

  it("samples no root trace at TRACING_SAMPLING_RATE=0, nor a caller's unsampled one", async () => {
    const before = spans.length;
    await ask("carol", {});
    await ask("carol", { traceparent: `00-${TRACE_ID.replace("4", "5")}-${PARENT_ID}-00` });
    await ask("dave", { traceparent: `00-${TRACE_ID.replace("4", "6")}-${PARENT_ID}-01` }); // a marker that is sampled
    await waitFor(() => spans.some((s) => s.traceId === TRACE_ID.replace("4", "6")), 10_000);
    expect(spans.length).toBe(before + 1);
  });

  it("puts the trace id on JSON log lines written during a traced call", () => {
    const decided = sluice.all("ShouldRateLimit decided").filter((l) => l["trace_id"] === TRACE_ID);
    expect(decided.length).toBe(2);
    const over = sluice.all("over limit").find((l) => l["trace_id"] === TRACE_ID);
    expect(over).toMatchObject({ level: 20, domain: "web", descriptors: ["user=alice"] });
  });
});
