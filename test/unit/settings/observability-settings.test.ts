import { describe, expect, it } from "vitest";
import { SettingsError } from "../../../src/domain/errors.js";
import { IGNORED_REFERENCE_ENV, parseSettings } from "../../../src/settings/settings.js";

const CWD = "/srv";

describe("parseSettings() observability", () => {
  it("defaults: stats counted, Prometheus, statsd and tracing off", () => {
    expect(parseSettings({}, CWD).observability).toEqual({
      disableStats: false,
      prometheus: undefined,
      statsd: undefined,
      extraTags: {},
      tracing: undefined,
    });
  });

  it("reads the reference's Prometheus variables (Go's :port listens everywhere)", () => {
    const s = parseSettings(
      {
        USE_PROMETHEUS: "true",
        PROMETHEUS_ADDR: ":19001",
        PROMETHEUS_PATH: "/m",
        PROMETHEUS_MAPPER_YAML: "/etc/statsd-exporter/conf.yaml",
        PROMETHEUS_RESPONSE_TIME_AS_MILLISECONDS: "true",
      },
      CWD,
    );
    expect(s.observability.prometheus).toEqual({
      listen: { host: "0.0.0.0", port: 19001 },
      path: "/m",
      mapperFile: "/etc/statsd-exporter/conf.yaml",
      responseTimeAsMilliseconds: true,
    });
    expect(parseSettings({ USE_PROMETHEUS: "true" }, CWD).observability.prometheus?.listen).toEqual({
      host: "0.0.0.0",
      port: 9090,
    });
    expect(
      parseSettings({ USE_PROMETHEUS: "true", PROMETHEUS_ADDR: "[::1]:9102" }, CWD).observability.prometheus?.listen,
    ).toEqual({ host: "::1", port: 9102 });
  });

  it("reads statsd, EXTRA_TAGS and tracing", () => {
    const s = parseSettings(
      {
        USE_STATSD: "true",
        STATSD_HOST: "statsd",
        STATSD_PORT: "9125",
        STATS_FLUSH_INTERVAL: "2s",
        USE_DOG_STATSD: "true",
        EXTRA_TAGS: "cluster:eu1, team:rl",
        TRACING_ENABLED: "true",
        TRACING_EXPORTER_PROTOCOL: "grpc",
        TRACING_SAMPLING_RATE: "0.01",
        TRACING_SERVICE_NAMESPACE: "ns",
      },
      CWD,
    ).observability;
    expect(s.statsd).toEqual({ host: "statsd", port: 9125, flushIntervalMs: 2000, dogStatsd: true });
    expect(s.extraTags).toEqual({ cluster: "eu1", team: "rl" });
    expect(s.tracing).toEqual({
      serviceName: "RateLimit",
      serviceNamespace: "ns",
      serviceInstanceId: undefined,
      protocol: "grpc",
      samplingRate: 0.01,
    });
  });

  it("DISABLE_STATS turns statsd off", () => {
    expect(parseSettings({ DISABLE_STATS: "true", USE_STATSD: "true" }, CWD).observability.statsd).toBeUndefined();
  });

  it("refuses garbage, listing every problem", () => {
    const env = {
      USE_PROMETHEUS: "yes please",
      USE_STATSD: "true",
      STATSD_PORT: "0",
      PROMETHEUS_ADDR: "nope",
      EXTRA_TAGS: "bad-name:x",
      TRACING_ENABLED: "true",
      TRACING_SAMPLING_RATE: "2",
      TRACING_EXPORTER_PROTOCOL: "zipkin",
    };
    let err: unknown;
    try {
      parseSettings(env, CWD);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    const problems = (err as SettingsError).problems.join("\n");
    for (const name of [
      "USE_PROMETHEUS",
      "STATSD_PORT",
      "EXTRA_TAGS",
      "TRACING_SAMPLING_RATE",
      "TRACING_EXPORTER_PROTOCOL",
    ]) {
      expect(problems).toContain(name);
    }
    expect(() => parseSettings({ USE_PROMETHEUS: "true", PROMETHEUS_ADDR: "nope" }, CWD)).toThrow(/PROMETHEUS_ADDR/);
  });

  it("no longer lists the variables it implements as ignored", () => {
    for (const name of [
      "USE_STATSD",
      "USE_PROMETHEUS",
      "PROMETHEUS_ADDR",
      "TRACING_ENABLED",
      "EXTRA_TAGS",
      "DISABLE_STATS",
    ]) {
      expect(IGNORED_REFERENCE_ENV).not.toContain(name);
    }
  });
});
