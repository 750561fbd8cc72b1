import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { loadStatsdMapper, parseStatsdMapper } from "../../../src/telemetry/statsd-mapper.js";

describe("loadStatsdMapper() with the default mapping", () => {
  const mapper = loadStatsdMapper(undefined);
  it.each([
    // One level: the glob mappings (domain, key1), as the reference's prometheus_sink_test.
    [
      "ratelimit.service.rate_limit.domain1.key1_val1.over_limit",
      "ratelimit_service_rate_limit_over_limit",
      { domain: "domain1", key1: "key1_val1" },
    ],
    // Two levels and deeper: the regex mappings keep the first two levels (key1, key2).
    [
      "ratelimit.service.rate_limit.domain1.key1_val1.key2_val2.over_limit",
      "ratelimit_service_rate_limit_over_limit",
      { domain: "domain1", key1: "key1_val1", key2: "key2_val2" },
    ],
    [
      "ratelimit.service.rate_limit.domain1.key3_val3.key4_val4.key5_val5.total_hits",
      "ratelimit_service_rate_limit_total_hits",
      { domain: "domain1", key1: "key3_val3", key2: "key4_val4" },
    ],
    [
      "ratelimit.service.rate_limit.d.k.near_limit",
      "ratelimit_service_rate_limit_near_limit",
      { domain: "d", key1: "k" },
    ],
    [
      "ratelimit.service.rate_limit.d.k.within_limit",
      "ratelimit_service_rate_limit_within_limit",
      { domain: "d", key1: "k" },
    ],
    [
      "ratelimit.service.rate_limit.d.k.shadow_mode",
      "ratelimit_service_rate_limit_shadow_mode",
      { domain: "d", key1: "k" },
    ],
    [
      "ratelimit.service.rate_limit.d.k.over_limit_with_local_cache",
      "ratelimit_service_rate_limit_over_limit_with_local_cache",
      { domain: "d", key1: "k" },
    ],
    [
      "ratelimit.service.call.should_rate_limit.redis_error",
      "ratelimit_service_should_rate_limit_error",
      { err_type: "redis_error" },
    ],
    [
      "ratelimit_server.ShouldRateLimit.total_requests",
      "ratelimit_service_total_requests",
      { grpc_method: "ShouldRateLimit" },
    ],
    ["ratelimit.service.config_load_success", "ratelimit_service_config_load_success", {}],
    ["ratelimit.service.config_load_error", "ratelimit_service_config_load_error", {}],
    // Unmapped: statsd_exporter's escaped name.
    ["ratelimit.service.rate_limit.nope.domain_not_found", "ratelimit_service_rate_limit_nope_domain_not_found", {}],
    ["ratelimit.service.global_shadow_mode", "ratelimit_service_global_shadow_mode", {}],
  ])("maps %s to %s %j", (stat, name, labels) => {
    expect(mapper.map(stat, "counter")).toMatchObject({ name, labels });
  });

  it("maps the response time timer to the seconds histogram", () => {
    expect(mapper.map("ratelimit_server.ShouldRateLimit.response_time", "observer")).toMatchObject({
      name: "ratelimit_service_response_time_seconds",
      labels: { grpc_method: "ShouldRateLimit" },
    });
  });
});

describe("parseStatsdMapper()", () => {
  it("honours glob and regex matches, $n and {n} captures, match_metric_type and drop, first match winning", () => {
    const mapper = parseStatsdMapper(
      [
        "mappings:",
        '  - match: "ratelimit.service.rate_limit.*.*.over_limit"',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: statsd_exporter's ${n} capture syntax
        '    name: "rl_${1}_over"',
        '    labels: { k: "$2", fixed: "x" }',
        '  - match: "ratelimit.service.rate_limit.*.*.*"',
        "    action: drop",
        "  - match: 'ratelimit_server\\.(\\w+)\\.total_requests'",
        "    match_type: regex",
        "    match_metric_type: gauge",
        '    name: "never"',
        "  - match: 'ratelimit_server\\.(\\w+)\\.total_requests'",
        "    match_type: regex",
        '    name: "calls"',
        '    help: "calls seen"',
        '    labels: { method: "$1" }',
      ].join("\n"),
      "m.yaml",
    );
    expect(mapper.map("ratelimit.service.rate_limit.api.user_a.over_limit", "counter")).toEqual({
      name: "rl_api_over",
      labels: { k: "user_a", fixed: "x" },
      help: undefined,
    });
    expect(mapper.map("ratelimit.service.rate_limit.api.user_a.total_hits", "counter")).toBeNull();
    expect(mapper.map("ratelimit_server.ShouldRateLimit.total_requests", "counter")).toEqual({
      name: "calls",
      labels: { method: "ShouldRateLimit" },
      help: "calls seen",
    });
  });

  it.each([
    [
      "mappings:\n  - match: a.b\n    name: x\n    ttl: 1m\n",
      /m\.yaml: mappings\[0\]\.ttl: line 4: "ttl" is not supported/,
    ],
    ["mappings:\n  - match: a.b\n    name: x\n    timer_type: summary\n", /line 4: "summary" is not supported/],
    ["defaults:\n  ttl: 1m\nmappings: []\n", /defaults: line 1: "defaults" is not supported/],
    ["mappings:\n  - name: x\n", /mappings\[0\]\.match: line 2: match is required/],
    [
      "mappings:\n  - match: a\n    name: 'bad name'\n",
      /mappings\[0\]\.name: line 3: "bad name" is not a Prometheus metric name/,
    ],
    ["mappings:\n  - match: '('\n    match_type: regex\n    name: x\n", /mappings\[0\]\.match: line 2: invalid regex/],
    [
      "mappings:\n  - match: a\n    name: x\n    labels: { 'bad-label': y }\n",
      /line 4: "bad-label" is not a label name/,
    ],
    ["mappings: [\n", /m\.yaml: line/],
  ])("refuses a mapping it cannot honour, naming the file, path and line (%#)", (text, message) => {
    expect(() => parseStatsdMapper(text, "m.yaml")).toThrow(ConfigError);
    expect(() => parseStatsdMapper(text, "m.yaml")).toThrow(message);
  });
});

describe("loadStatsdMapper() with PROMETHEUS_MAPPER_YAML", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sluice-mapper-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the file", async () => {
    const file = join(dir, "ok.yaml");
    await writeFile(file, 'mappings:\n  - match: "a.*"\n    name: "a_total"\n    labels: { x: "$1" }\n');
    expect(loadStatsdMapper(file).map("a.b", "counter")).toMatchObject({ name: "a_total", labels: { x: "b" } });
  });

  it("names a missing file", () => {
    expect(() => loadStatsdMapper(join(dir, "missing.yaml"))).toThrow(
      /missing\.yaml: cannot read PROMETHEUS_MAPPER_YAML/,
    );
  });
});
