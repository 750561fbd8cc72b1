/**
 * Black-box compatibility with envoyproxy/ratelimit, part 4: the HTTP faces of the built `node dist/main.js`
 * (memory backend) — POST /json in and out as protojson (Go protojson of RateLimitRequest/RateLimitResponse: lowerCamel
 * names, enum names, default values omitted, Duration as "<n>s"), GET /healthcheck (with
 * HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED), the debug port's GET / and /rlconfig — and rule reloads: counters survive
 * them, and before any good config the service answers UNAVAILABLE (a deliberate difference: the reference says UNKNOWN,
 * and /json 400 where Sluice says 503).
 */
import { mkdir, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSluice, startSluice } from "../helpers/compat-process.js";
import { callError, createEnvoyClient, type EnvoyClient, resetAt } from "../helpers/envoy-client.js";
import { waitFor } from "../helpers/service.js";

const RULES = `domain: web
descriptors:
  - key: user
    rate_limit: {name: per-user, unit: hour, requests_per_unit: 2}
  - key: free
    rate_limit: {unlimited: true}
  - key: tagged
    shadow_mode: true
    rate_limit: {unit: day, requests_per_unit: 9}
    metadata: {team: web}
`;

let web: RunningSluice;
let health: RunningSluice;
let broken: RunningSluice;
const clients: EnvoyClient[] = [];

beforeAll(async () => {
  [web, health, broken] = await Promise.all([
    startSluice({
      rules: { "config.yaml": RULES },
      env: { LIMIT_RESPONSE_HEADERS_ENABLED: "true", RESPONSE_DYNAMIC_METADATA: "true" },
    }),
    startSluice({ env: { HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED: "true" } }),
    startSluice({
      rules: { "config.yaml": "domain: web\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight}\n" },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all([web?.stop(), health?.stop(), broken?.stop()]);
});

function client(s: RunningSluice): EnvoyClient {
  const c = createEnvoyClient(s.grpc);
  clients.push(c);
  return c;
}

async function postJson(s: RunningSluice, body: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${s.http}/json`, { method: "POST", body });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

describe("POST /json", () => {
  it("answers 200 with the protojson RateLimitResponse the reference emits", async () => {
    const before = Date.now();
    const res = await postJson(
      web,
      '{"domain":"web","descriptors":[{"entries":[{"key":"user","value":"j1"}]},{"entries":[{"key":"free"}]},{"entries":[{"key":"none","value":"x"}]}]}',
    );
    const reset = [resetAt(before, 3_600), resetAt(Date.now(), 3_600)];
    expect([res.status, res.type]).toEqual([200, "application/json"]);
    const body = JSON.parse(res.text) as Record<string, unknown>;
    const seconds = Number(
      String((body["statuses"] as { durationUntilReset?: string }[])[0]?.durationUntilReset).slice(0, -1),
    );
    expect(reset).toContain(seconds);
    expect(body).toEqual({
      overallCode: "OK",
      statuses: [
        {
          code: "OK",
          currentLimit: { name: "per-user", requestsPerUnit: 2, unit: "HOUR" },
          limitRemaining: 1,
          durationUntilReset: `${seconds}s`,
        },
        { code: "OK", limitRemaining: 4294967295 },
        { code: "OK" },
      ],
      responseHeadersToAdd: [
        { key: "RateLimit-Limit", value: "2" },
        { key: "RateLimit-Remaining", value: "1" },
        { key: "RateLimit-Reset", value: String(seconds) },
      ],
      dynamicMetadata: {
        domain: "web",
        descriptors: [{ entries: ["user=j1"] }, { entries: ["free="] }, { entries: ["none=x"] }],
      },
    });
  });

  it("answers 429 over the limit, omitting limitRemaining 0 as protojson does", async () => {
    const body = '{"domain":"web","descriptors":[{"entries":[{"key":"user","value":"j2"}]}],"hitsAddend":3}';
    const res = await postJson(web, body);
    expect([res.status, res.type]).toEqual([429, "application/json"]);
    const json = JSON.parse(res.text) as { overallCode: string; statuses: Record<string, unknown>[] };
    expect(json.overallCode).toBe("OVER_LIMIT");
    expect(Object.keys(json.statuses[0] ?? {}).sort()).toEqual(["code", "currentLimit", "durationUntilReset"]);
    expect(json.statuses[0]?.["code"]).toBe("OVER_LIMIT");
  });

  it("accepts proto field names, string integers and the descriptor hits_addend wrapper as a bare value", async () => {
    const res = await postJson(
      web,
      '{"domain":"web","hits_addend":"2","descriptors":[{"entries":[{"key":"tagged","value":"t"}],"hits_addend":"0"},{"entries":[{"key":"tagged","value":"u"}]}]}',
    );
    const json = JSON.parse(res.text) as { statuses: { limitRemaining?: number }[]; dynamicMetadata: unknown };
    expect(json.statuses.map((s) => s.limitRemaining)).toEqual([9, 7]);
    expect(json.dynamicMetadata).toMatchObject({ hitsAddend: 2, metadata: { team: "web" } });
  });

  it.each([
    ["malformed JSON", '{"domain":'],
    ["an empty body", ""],
    ["a JSON array", "[]"],
    ["an unknown field", '{"domain":"web","descriptors":[{"entries":[{"key":"user","value":"j3"}]}],"extra":1}'],
    ["a number where a string belongs", '{"domain":7,"descriptors":[{"entries":[{"key":"user","value":"j3"}]}]}'],
    ["an empty domain", '{"domain":"","descriptors":[{"entries":[{"key":"user","value":"j3"}]}]}'],
    ["no descriptors", '{"domain":"web","descriptors":[]}'],
  ])("answers 400 Bad Request for %s", async (_name, body) => {
    const res = await postJson(web, body);
    expect(res.status).toBe(400);
    expect(res.text.startsWith("Bad Request")).toBe(true);
  });
});

describe("GET /healthcheck", () => {
  it("answers 200 OK when healthy", async () => {
    const res = await fetch(`${web.http}/healthcheck`);
    expect([res.status, await res.text()]).toEqual([200, "OK"]);
  });

  it("with HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED: 500 (empty body) until a config with a domain loads", async () => {
    const before = await fetch(`${health.http}/healthcheck`);
    expect([before.status, await before.text()]).toEqual([500, ""]);
    // An empty rules directory is a loaded, empty config: unknown domains are answered OK.
    const res = await client(health).ask({ domain: "any", descriptors: [{ entries: [{ key: "k", value: "v" }] }] });
    expect(res.overall_code).toBe("OK");
    await health.writeRules(RULES);
    const after = await fetch(`${health.http}/healthcheck`);
    expect([after.status, await after.text()]).toEqual([200, "OK"]);
  });
});

describe("debug port", () => {
  it("GET / lists the endpoints as `path: help` lines, sorted", async () => {
    const text = await (await fetch(`${web.debug}/`)).text();
    const lines = text.trimEnd().split("\n");
    expect(lines).toEqual([...lines].sort());
    expect(lines).toContain("/rlconfig: print out the currently loaded configuration for debugging");
    expect(lines).toContain("/stats: print out stats");
  });

  it("GET /rlconfig prints one reference-format line per rate limit", async () => {
    const text = await (await fetch(`${web.debug}/rlconfig`)).text();
    expect(text.endsWith("\n")).toBe(true);
    expect(text.trimEnd().split("\n").sort()).toEqual([
      "web.free: unit=UNKNOWN requests_per_unit=0, shadow_mode: false",
      "web.tagged: unit=DAY requests_per_unit=9, shadow_mode: true",
      "web.user: unit=HOUR requests_per_unit=2, shadow_mode: false",
    ]);
  });
});

describe("reload", () => {
  it("keeps counting across a reload, against the new limit", async () => {
    const envoy = client(web);
    const ask = () => envoy.ask({ domain: "web", descriptors: [{ entries: [{ key: "user", value: "r1" }] }] });
    await ask();
    expect((await ask()).statuses[0]?.limit_remaining).toBe(0);
    await web.writeRules(RULES.replace("requests_per_unit: 2}", "requests_per_unit: 5}"));
    const after = await ask();
    expect([after.statuses[0]?.current_limit?.requests_per_unit, after.statuses[0]?.limit_remaining]).toEqual([5, 2]);
    expect(await (await fetch(`${web.debug}/rlconfig`)).text()).toContain("web.user: unit=HOUR requests_per_unit=5,");
  });

  it("keeps serving the last good rules when a reload fails", async () => {
    const envoy = client(web);
    await web.writeRules("domain: web\ndescriptors:\n  - key: user\n    bogus: 1\n");
    const res = await envoy.ask({ domain: "web", descriptors: [{ entries: [{ key: "user", value: "r2" }] }] });
    expect(res.statuses[0]?.current_limit?.requests_per_unit).toBe(5);
    expect((await web.stats()).get("ratelimit.service.config_load_error")).toBeGreaterThan(0);
  });
});

describe("Kubernetes ConfigMap layout (RUNTIME_SUBDIRECTORY, RUNTIME_IGNOREDOTFILES=true, RUNTIME_WATCH_ROOT=false)", () => {
  /** `<dir>/..<version>/config.yaml`, `..data -> ..<version>`, `config.yaml -> ..data/config.yaml`, as kubelet writes. */
  async function publish(dir: string, version: string, yaml: string): Promise<void> {
    await mkdir(join(dir, `..${version}`), { recursive: true });
    await writeFile(join(dir, `..${version}`, "config.yaml"), yaml);
    await symlink(`..${version}`, join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await symlink("..data/config.yaml", join(dir, "config.yaml")).catch(() => undefined);
  }

  it("loads the projected file once and reloads when ..data is swapped", async () => {
    const s = await startSluice({
      env: { RUNTIME_SUBDIRECTORY: "ratelimit", RUNTIME_IGNOREDOTFILES: "true" },
      prepare: (root) => publish(join(root, "ratelimit", "config"), "v1", RULES),
    });
    try {
      const envoy = client(s);
      const ask = () => envoy.ask({ domain: "web", descriptors: [{ entries: [{ key: "user", value: "k8s" }] }] });
      expect((await ask()).statuses[0]?.current_limit?.requests_per_unit).toBe(2);
      const dir = join(s.root, "ratelimit", "config");
      await s.changeRules(() => publish(dir, "v2", RULES.replace("requests_per_unit: 2}", "requests_per_unit: 7}")));
      await waitFor(async () => (await ask()).statuses[0]?.current_limit?.requests_per_unit === 7, 5_000);
      expect((await s.stats()).get("ratelimit.service.config_load_error") ?? 0).toBe(0);
    } finally {
      await s.stop();
    }
  });
});

describe("no config loaded (deliberate difference: UNAVAILABLE, not UNKNOWN)", () => {
  it("answers gRPC UNAVAILABLE and /json 503 until a good config loads, then serves it", async () => {
    const envoy = client(broken);
    const req = { domain: "web", descriptors: [{ entries: [{ key: "user", value: "b1" }] }] };
    const err = await callError(envoy.ask(req));
    expect(status[err.code]).toBe("UNAVAILABLE");
    expect(err.details).toContain("no rate limit configuration loaded");
    expect((await postJson(broken, JSON.stringify(req))).status).toBe(503);
    await broken.writeRules(RULES);
    await waitFor(async () => (await postJson(broken, JSON.stringify(req))).status === 200, 5_000);
    expect((await envoy.ask(req)).statuses[0]?.limit_remaining).toBe(0);
  });
});
