/**
 * envoy/envoy.yaml, checked the two ways available without an Envoy binary:
 * 1. decoded strictly as envoy.config.bootstrap.v3.Bootstrap with the upstream Envoy protos (test/helpers/envoy-config.ts),
 *    so a misspelt field, enum or @type fails;
 * 2. its rate-limit actions turned into exactly the descriptors Envoy sends for sample requests
 *    (test/helpers/envoy-actions.ts), asked of a real Sluice over gRPC by an independent Envoy-protos client, with the
 *    rules of config/edge.yaml; the LLM token charge uses the real demo backend's streamed usage.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type DynamicMetadata, envoyRequest, type SampleRequest, streamToMetadata } from "../helpers/envoy-actions.js";
import { createEnvoyClient, type EnvoyClient, type WireRequest } from "../helpers/envoy-client.js";
import { decodeEnvoyConfig, EnvoyConfigError, STREAM_TO_METADATA } from "../helpers/envoy-config.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { freePort } from "../helpers/ports.js";
import { codeBlocks, curlLoop, readmeSection } from "../helpers/readme.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";
import { REPO } from "../helpers/sluice-process.js";

const ENVOY_YAML = readFileSync(join(REPO, "envoy/envoy.yaml"), "utf8");
const RULES = readFileSync(join(REPO, "config/edge.yaml"), "utf8");
const doc = (): Record<string, unknown> => parse(ENVOY_YAML) as Record<string, unknown>;

/** Finds the first object under `root` that has `key`, depth first. */
function findWith(root: unknown, key: string): Record<string, unknown> {
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (!Array.isArray(v) && key in v) return v as Record<string, unknown>;
    stack.push(...Object.values(v).reverse());
  }
  throw new Error(`no ${key} in the document`);
}

/** Renames `from` to `to` in the first object that has it. */
function misspell(from: string, to: string): Record<string, unknown> {
  const d = doc();
  const holder = findWith(d, from);
  holder[to] = holder[from];
  delete holder[from];
  return d;
}

describe("envoy/envoy.yaml decodes as envoy.config.bootstrap.v3.Bootstrap (upstream protos)", () => {
  it("decodes, with every typed_config resolved, and says what the rate limit filter does", () => {
    const bootstrap = decodeEnvoyConfig(doc()).toJSON() as Record<string, unknown>;
    const text = JSON.stringify(bootstrap);
    expect(text).toContain("type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit");
    // The Any values were packed from the decoded sub-messages: decode the rate limit filter's back.
    const filter = decodeEnvoyConfig(
      (() => {
        const { "@type": _t, ...rest } = findWith(doc(), "failure_mode_deny");
        return rest;
      })(),
      "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
    ).toJSON();
    expect(filter).toMatchObject({
      domain: "edge",
      timeout: { nanos: 50_000_000 },
      failure_mode_deny: false,
      enable_x_ratelimit_headers: "DRAFT_VERSION_03",
      rate_limit_service: { transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "sluice" } } },
    });
    const sluice = findWith(doc(), "typed_extension_protocol_options");
    expect(JSON.stringify(sluice)).toContain('"http2_protocol_options":{}');
    expect(sluice["name"]).toBe("sluice");
    expect(ENVOY_YAML).toContain(STREAM_TO_METADATA);
  });

  it.each([
    [
      "failure_mode_deny",
      "failure_mode_denny",
      "unknown field of envoy.extensions.filters.http.ratelimit.v3.RateLimit",
    ],
    ["apply_on_stream_done", "apply_on_stream_end", "unknown field of envoy.config.route.v3.RateLimit"],
    ["descriptor_key", "descriptorKey", "unknown field of envoy.config.route.v3.RateLimit.Action.RequestHeaders"],
    ["json_path", "jsonpath", "unknown field of envoy.extensions.filters.http.stream_to_metadata.v3"],
    ["http2_protocol_options", "http2_options", "unknown field of envoy.extensions.upstreams.http.v3"],
  ])("rejects a misspelt %s", (from, to, message) => {
    expect(() => decodeEnvoyConfig(misspell(from, to))).toThrow(EnvoyConfigError);
    expect(() => decodeEnvoyConfig(misspell(from, to))).toThrow(message);
  });

  it("rejects a wrong enum name, a bad duration and an unknown @type", () => {
    const badEnum = doc();
    findWith(badEnum, "enable_x_ratelimit_headers")["enable_x_ratelimit_headers"] = "DRAFT_03";
    expect(() => decodeEnvoyConfig(badEnum)).toThrow(
      'enable_x_ratelimit_headers: "DRAFT_03" is not a value of envoy.extensions.filters.http.ratelimit.v3.RateLimit',
    );
    const badDuration = doc();
    findWith(badDuration, "failure_mode_deny")["timeout"] = "50ms";
    expect(() => decodeEnvoyConfig(badDuration)).toThrow('"50ms" is not a duration');
    const badType = doc();
    const router = findWith(badType, "@type");
    router["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnMgr";
    expect(() => decodeEnvoyConfig(badType)).toThrow("is not a known message");
  });
});

describe("Sluice answers what Envoy asks for the demo's requests (config/edge.yaml)", () => {
  let sluice: Harness;
  let client: EnvoyClient;
  let backend: ChildProcess;
  let backendPort: number;
  const clock = new FakeClock();

  beforeAll(async () => {
    sluice = await startHarness({ rules: { "edge.yaml": RULES }, clock });
    client = createEnvoyClient(sluice.grpcTarget);
    backendPort = await freePort();
    backend = spawn(process.execPath, [join(REPO, "demo/llm-backend.mjs")], {
      env: { PORT: String(backendPort), HOST: "127.0.0.1" },
      stdio: "ignore",
    });
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${backendPort}/`).catch(() => undefined))?.ok === true,
      10_000,
    );
  });

  afterAll(async () => {
    backend?.kill("SIGTERM");
    client?.close();
    await sluice?.close();
  });

  const ask = async (req: SampleRequest, phase: "request" | "stream_done" = "request", md?: DynamicMetadata) => {
    const wire = envoyRequest(doc(), req, phase, md);
    if (wire === undefined) throw new Error("Envoy would send nothing");
    return { wire, reply: await client.ask(wire) };
  };

  it("the README's docker-compose demo: a free user's sixth request in a minute is limited (429 at Envoy)", async () => {
    const loop = curlLoop(codeBlocks(readmeSection("Run with Docker / docker-compose"), "sh")[1] ?? "");
    expect(loop).toEqual({
      count: 6,
      headers: { "x-tier": "free", "x-user": "alice" },
      port: 10000,
      path: "/hello",
      expected: [200, 200, 200, 200, 200, 429],
    });
    expect(ENVOY_YAML).toContain(`port_value: ${loop.port} }`);
    const req = { path: loop.path, remoteAddress: "172.18.0.1", headers: loop.headers };
    const first = await ask(req);
    expect(first.wire).toEqual<WireRequest>({
      domain: "edge",
      descriptors: [
        { entries: [{ key: "remote_address", value: "172.18.0.1" }] },
        { entries: [{ key: "path", value: "/hello" }] },
        {
          entries: [
            { key: "tier", value: "free" },
            { key: "user", value: "alice" },
          ],
        },
      ],
    });
    const codes = [first.reply.overall_code];
    for (let i = 1; i < loop.count; i++) codes.push((await ask(req)).reply.overall_code);
    // Envoy answers OVER_LIMIT with 429 (rate_limited_status default) and forwards OK.
    expect(codes.map((c) => (c === "OVER_LIMIT" ? 429 : 200))).toEqual(loop.expected);
    // A pro user, or a request without the headers (that descriptor is not sent), is not limited by it.
    const pro = await ask({ ...req, headers: { "x-tier": "pro", "x-user": "alice" } });
    expect(pro.reply.overall_code).toBe("OK");
    const anonymous = await ask({ path: "/hello", remoteAddress: "172.18.0.1" });
    expect(anonymous.wire.descriptors).toHaveLength(2);
    expect(anonymous.reply.overall_code).toBe("OK");
  });

  it("limits per client address, each address on its own", async () => {
    for (let i = 0; i < 60; i++) {
      expect((await ask({ path: `/p${i}`, remoteAddress: "10.0.0.1" })).reply.overall_code).toBe("OK");
    }
    expect((await ask({ path: "/p", remoteAddress: "10.0.0.1" })).reply.overall_code).toBe("OVER_LIMIT");
    expect((await ask({ path: "/p", remoteAddress: "10.0.0.2" })).reply.overall_code).toBe("OK");
  });

  it("limits per LLM provider and model, and the chat path as a whole", async () => {
    const chat = (i: number, model: string): SampleRequest => ({
      path: "/v1/chat/completions",
      remoteAddress: `10.1.0.${i}`,
      headers: { "x-llm-provider": "openai", "x-llm-model": model },
    });
    const first = await ask(chat(0, "gpt-4o"));
    expect(first.wire.descriptors).toContainEqual({
      entries: [
        { key: "llm_provider", value: "openai" },
        { key: "llm_model", value: "gpt-4o" },
      ],
    });
    for (let i = 1; i < 10; i++) expect((await ask(chat(i, "gpt-4o"))).reply.overall_code).toBe("OK");
    const limited = await ask(chat(10, "gpt-4o"));
    expect(limited.reply.overall_code).toBe("OVER_LIMIT");
    const modelStatus = limited.reply.statuses[limited.wire.descriptors.findIndex((d) => d.entries.length === 2)];
    expect(modelStatus).toMatchObject({ code: "OVER_LIMIT", current_limit: { requests_per_unit: 10, unit: "MINUTE" } });
    // Another model has its own 20 a minute, until the chat path's 30 a minute in total runs out.
    const codes: string[] = [];
    for (let i = 11; i < 32; i++) codes.push((await ask(chat(i, "gpt-4o-mini"))).reply.overall_code);
    expect(codes.filter((c) => c === "OK")).toHaveLength(19); // 11 chat calls so far + 19 = the path's 30
    expect(codes.slice(19)).toEqual(["OVER_LIMIT", "OVER_LIMIT"]);
  });

  it("checks a user's LLM token budget before the call and charges the streamed usage.total_tokens after it", async () => {
    clock.advance(3_600_000); // a fresh hour and minute for every limit
    const prompt = Array.from({ length: 490 }, (_, i) => `w${i}`).join(" ");
    const req: SampleRequest = {
      path: "/v1/chat/completions",
      remoteAddress: "10.2.0.1",
      headers: { "x-tier": "pro", "x-user": "bob", "x-llm-provider": "demo", "x-llm-model": "demo-model" },
    };
    const tokenCheck = (wire: WireRequest) =>
      wire.descriptors.findIndex((d) => d.entries[0]?.value === "llm_tokens" && d.hits_addend !== undefined);
    const call = async (): Promise<{ checked: string; charged: number; chargeCode: string }> => {
      const before = await ask(req);
      const i = tokenCheck(before.wire);
      expect(before.wire.descriptors[i]).toEqual({
        entries: [
          { key: "generic_key", value: "llm_tokens" },
          { key: "user", value: "bob" },
        ],
        hits_addend: { value: "0" },
      });
      const checked = before.reply.statuses[i]?.code ?? "";
      const res = await fetch(`http://127.0.0.1:${backendPort}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "demo-model", stream: true, messages: [{ role: "user", content: prompt }] }),
      });
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      const metadata = streamToMetadata(doc(), await res.text());
      const after = await ask(req, "stream_done", metadata);
      expect(after.wire.descriptors).toHaveLength(1);
      const charged = Number(after.wire.descriptors[0]?.hits_addend?.value);
      return { checked, charged, chargeCode: after.reply.overall_code };
    };
    const first = await call();
    expect(first).toEqual({ checked: "OK", charged: 497, chargeCode: "OK" }); // 490 prompt words + 7 reply words
    expect((await call()).checked).toBe("OK"); // 497 of 1000 used
    expect((await call()).checked).toBe("OK"); // 994 used: still under
    // 1491 tokens charged: the next call is refused before it reaches the backend.
    const refused = await ask(req);
    expect(refused.reply.overall_code).toBe("OVER_LIMIT");
    expect(refused.reply.statuses[tokenCheck(refused.wire)]?.code).toBe("OVER_LIMIT");
  });
});
