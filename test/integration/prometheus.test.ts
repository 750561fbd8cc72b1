/**
 * USE_PROMETHEUS against the real service: after real gRPC and HTTP traffic, PROMETHEUS_ADDR serves the reference's
 * metric names and labels (the default statsd_exporter mapping Envoy Gateway's dashboard reads) with the right values,
 * Sluice's own metrics and the Node process metrics; PROMETHEUS_MAPPER_YAML, PROMETHEUS_PATH,
 * PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS and EXTRA_TAGS are honoured; and every metric name the docs mention exists.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEnvoyClient, descriptor, type EnvoyClient } from "../helpers/envoy-client.js";
import { hasMetric, type Scrape, scrape } from "../helpers/prometheus.js";
import { type Harness, startHarness } from "../helpers/service.js";
import { buildDist, LOOPBACK_ENV, REPO, SluiceProcess } from "../helpers/sluice-process.js";

const RULES = `domain: web
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2 }
  - key: route
    value: api
    descriptors:
      - key: method
        rate_limit: { unit: minute, requests_per_unit: 100 }
  - key: client
    detailed_metric: true
    rate_limit: { unit: minute, requests_per_unit: 100 }
  - key: trial
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 1 }
`;

describe("Prometheus with the default mapping", () => {
  let h: Harness;
  let client: EnvoyClient;
  let s: Scrape;

  beforeAll(async () => {
    h = await startHarness({
      rules: { "config.yaml": RULES },
      env: { USE_PROMETHEUS: "true", PROMETHEUS_ADDR: "127.0.0.1:0" },
    });
    client = createEnvoyClient(h.grpcTarget);
    for (let i = 0; i < 3; i++) await client.ask({ domain: "web", descriptors: [descriptor("user", "alice")] });
    await client.ask({
      domain: "web",
      descriptors: [
        {
          entries: [
            { key: "route", value: "api" },
            { key: "method", value: "GET" },
          ],
        },
      ],
    });
    await client.ask({ domain: "web", descriptors: [descriptor("client", "a\nb")] });
    await client.ask({ domain: "nope", descriptors: [descriptor("x", "y")] });
    await client.ask({ domain: "", descriptors: [descriptor("x", "y")] }).catch(() => undefined);
    const res = await fetch(`${h.httpUrl}/json`, {
      method: "POST",
      body: JSON.stringify({ domain: "web", descriptors: [{ entries: [{ key: "user", value: "bob" }] }] }),
    });
    expect(res.status).toBe(200);
    s = await scrape(`http://127.0.0.1:${h.service.ports.metrics}/metrics`);
  });

  afterAll(async () => {
    client?.close();
    await h?.close();
  });

  it("serves the reference's rate-limit stats with domain and key labels", () => {
    const user = { domain: "web", key1: "user" };
    expect(s.value("ratelimit_service_rate_limit_total_hits", user)).toBe(4);
    expect(s.value("ratelimit_service_rate_limit_within_limit", user)).toBe(3);
    expect(s.value("ratelimit_service_rate_limit_over_limit", user)).toBe(1);
    expect(s.value("ratelimit_service_rate_limit_near_limit", user)).toBe(1);
    const nested = { domain: "web", key1: "route_api", key2: "method" };
    expect(s.value("ratelimit_service_rate_limit_total_hits", nested)).toBe(1);
    expect(s.families.get("ratelimit_service_rate_limit_total_hits")).toBe("counter");
  });

  it("never puts a control character from a request into a label", () => {
    expect(s.value("ratelimit_service_rate_limit_total_hits", { domain: "web", key1: "client_a_b" })).toBe(1);
    expect(s.text).not.toMatch(/client_a\\n/);
  });

  it("serves calls, errors, response time and config loads under the reference's names", () => {
    const method = { grpc_method: "ShouldRateLimit" };
    expect(s.value("ratelimit_service_total_requests", method)).toBe(8);
    expect(s.value("ratelimit_service_should_rate_limit_error", { err_type: "service_error" })).toBe(1);
    expect(s.value("ratelimit_service_response_time_seconds_count", method)).toBe(8);
    expect(s.value("ratelimit_service_response_time_seconds_bucket", { ...method, le: "+Inf" })).toBe(8);
    expect(s.value("ratelimit_service_config_load_success")).toBe(1);
    expect(s.value("ratelimit_service_config_load_error")).toBe(0);
    expect(s.value("ratelimit_service_rate_limit_nope_domain_not_found")).toBe(1);
  });

  it("serves Sluice's own metrics and the Node process metrics", () => {
    const web = { domain: "web", algorithm: "fixed_window" };
    expect(s.value("sluice_decisions_total", { ...web, code: "OK" })).toBe(5);
    expect(s.value("sluice_decisions_total", { ...web, code: "OVER_LIMIT" })).toBe(1);
    expect(s.value("sluice_store_duration_seconds_count")).toBe(6);
    expect(s.value("sluice_rules_reloads_total", { result: "success" })).toBe(1);
    expect(s.families.get("sluice_rules_info")).toBe("gauge");
    expect(s.families.has("process_cpu_user_seconds_total")).toBe(true);
    expect(s.families.has("nodejs_eventloop_lag_p99_seconds")).toBe(true);
  });

  it("has every metric name the README and config/README.md mention", async () => {
    // A second instance drives what the first cannot: global shadow mode and the local over-limit cache.
    const shadow = await startHarness({
      rules: { "config.yaml": RULES },
      env: {
        USE_PROMETHEUS: "true",
        PROMETHEUS_ADDR: "127.0.0.1:0",
        SHADOW_MODE: "true",
        LOCAL_CACHE_SIZE_IN_BYTES: "1048576",
      },
    });
    let both: Scrape[];
    try {
      const c = createEnvoyClient(shadow.grpcTarget);
      for (let i = 0; i < 4; i++) {
        await c.ask({ domain: "web", descriptors: [descriptor("user", "alice"), descriptor("trial", "t")] });
      }
      c.close();
      both = [s, await scrape(`http://127.0.0.1:${shadow.service.ports.metrics}/metrics`)];
    } finally {
      await shadow.close();
    }
    const docs = ["README.md", "config/README.md"].map((f) => readFileSync(join(REPO, f), "utf8")).join("\n");
    const named = new Set(
      docs.match(/(?<![@\w])(?:ratelimit_service|sluice|process|nodejs)_[a-z0-9_]*[a-z0-9]\b/g) ?? [],
    );
    expect(named.size).toBeGreaterThan(20);
    const missing = [...named].filter((name) => !both.some((scraped) => hasMetric(scraped, name)));
    expect(missing).toEqual([]);
  });
});

describe("Prometheus with PROMETHEUS_MAPPER_YAML, PROMETHEUS_PATH, milliseconds and EXTRA_TAGS", () => {
  let h: Harness;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-mapper-"));
    const mapperFile = join(dir, "mapper.yaml");
    await writeFile(
      mapperFile,
      [
        "mappings:",
        '  - match: "ratelimit.service.rate_limit.*.*.total_hits"',
        '    name: "rl_hits"',
        '    labels: { d: "$1", rule: "$2" }',
        '  - match: "ratelimit.service.rate_limit.*.*.*"',
        "    action: drop",
        '  - match: "ratelimit_server.*.response_time"',
        '    name: "rl_response_time"',
        "    timer_type: histogram",
      ].join("\n"),
    );
    h = await startHarness({
      rules: { "config.yaml": RULES },
      env: {
        USE_PROMETHEUS: "true",
        PROMETHEUS_ADDR: "127.0.0.1:0",
        PROMETHEUS_PATH: "/custom",
        PROMETHEUS_MAPPER_YAML: mapperFile,
        PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS: "true",
        EXTRA_TAGS: "cluster:eu1",
      },
    });
    const client = createEnvoyClient(h.grpcTarget);
    await client.ask({ domain: "web", descriptors: [descriptor("user", "alice")] });
    client.close();
  });

  afterAll(async () => {
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("exports under the file's names and labels, drops what it drops, in milliseconds, with the extra tags", async () => {
    const s = await scrape(`http://127.0.0.1:${h.service.ports.metrics}/custom`);
    expect(s.value("rl_hits", { d: "web", rule: "user", cluster: "eu1" })).toBe(1);
    expect(s.families.has("ratelimit_service_rate_limit_within_limit")).toBe(false);
    expect([...s.families.keys()].some((n) => n.includes("within_limit"))).toBe(false);
    expect(s.value("rl_response_time_count", { cluster: "eu1" })).toBe(1);
    expect(s.value("rl_response_time_bucket", { le: "10000", cluster: "eu1" })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${h.service.ports.metrics}/metrics`)).status).toBe(404);
  });
});

describe("DISABLE_STATS", () => {
  it("counts nothing: /stats is empty and no stat reaches Prometheus, while the process metrics stay", async () => {
    const h = await startHarness({
      rules: { "config.yaml": RULES },
      env: { DISABLE_STATS: "true", USE_PROMETHEUS: "true", PROMETHEUS_ADDR: "127.0.0.1:0" },
    });
    try {
      const client = createEnvoyClient(h.grpcTarget);
      for (let i = 0; i < 3; i++) await client.ask({ domain: "web", descriptors: [descriptor("user", "alice")] });
      client.close();
      expect(await (await fetch(`${h.debugUrl}/stats`)).text()).toBe("");
      const s = await scrape(`http://127.0.0.1:${h.service.ports.metrics}/metrics`);
      expect([...s.families.keys()].filter((n) => n.startsWith("ratelimit_service_rate_limit"))).toEqual([]);
      expect(s.value("ratelimit_service_total_requests", { grpc_method: "ShouldRateLimit" })).toBeUndefined();
      expect(s.families.has("process_cpu_user_seconds_total")).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe("PROMETHEUS_MAPPER_YAML that Sluice cannot honour", () => {
  it("stops `node dist/main.js` at startup (exit 2) naming the file, the YAML path and the line", async () => {
    buildDist();
    const dir = await mkdtemp(join(tmpdir(), "sluice-bad-mapper-"));
    try {
      const file = join(dir, "conf.yaml");
      await writeFile(file, 'mappings:\n  - match: "a.*"\n    name: "a"\n    ttl: 10m\n');
      const p = new SluiceProcess({
        ...LOOPBACK_ENV,
        RUNTIME_ROOT: dir,
        USE_PROMETHEUS: "true",
        PROMETHEUS_ADDR: "127.0.0.1:0",
        PROMETHEUS_MAPPER_YAML: file,
      });
      const exit = await p.exited;
      expect(exit.code).toBe(2);
      expect(p.stderr).toContain(`${file}: mappings[0].ttl: line 4: "ttl" is not supported by Sluice`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
