/**
 * grafana/dashboards/sluice.json cannot rot: it is valid, provisioning-ready dashboard JSON, and every metric named
 * in every panel query (and template variable) exists in a scrape of a real Sluice that has served traffic.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEnvoyClient, descriptor } from "../helpers/envoy-client.js";
import { hasMetric, type Scrape, scrape } from "../helpers/prometheus.js";
import { type Harness, startHarness } from "../helpers/service.js";
import { REPO } from "../helpers/sluice-process.js";

interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly datasource: { readonly type: string; readonly uid: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource: { readonly type: string; readonly uid: string };
  readonly gridPos: { readonly h: number; readonly w: number; readonly x: number; readonly y: number };
  readonly targets: readonly Target[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query: string | { readonly query: string };
}
interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

const dashboard = JSON.parse(readFileSync(join(REPO, "grafana/dashboards/sluice.json"), "utf8")) as Dashboard;

/** Metric names in a PromQL expression: identifiers used as selectors (followed by `{`, `[` or `)`/space/`,`). */
function metricNames(expr: string): string[] {
  const withoutMatchers = expr.replace(/\{[^}]*\}/g, "{}").replace(/"[^"]*"/g, '""');
  const names = withoutMatchers.match(/\b(?:ratelimit_|sluice_|process_|nodejs_)[a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(names)];
}

describe("grafana/dashboards/sluice.json", () => {
  it("is valid dashboard JSON, ready for file provisioning", () => {
    expect(dashboard.title).toBe("Sluice");
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(Number.isInteger(dashboard.schemaVersion)).toBe(true);
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get("datasource")?.type).toBe("datasource");
    expect(vars.get("domain")?.type).toBe("query");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.title).not.toBe("");
      expect(["timeseries", "stat", "table", "bargauge"]).toContain(p.type);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
      expect(p.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
      for (const k of ["h", "w", "x", "y"] as const) expect(Number.isInteger(p.gridPos[k])).toBe(true);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.targets.length).toBeGreaterThan(0);
      const refIds = p.targets.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const t of p.targets) expect(metricNames(t.expr).length).toBeGreaterThan(0);
    }
  });

  it("has the panels the issue asks for", () => {
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join("\n");
    for (const topic of [
      "decisions per second by domain and code",
      "over-limit ratio",
      "top limited keys",
      "decision latency p50 / p99",
      "store latency",
      "errors",
      "failure-policy",
      "rule reloads",
    ]) {
      expect(titles).toContain(topic);
    }
  });

  describe("against a running Sluice that served traffic", () => {
    let h: Harness;
    let s: Scrape;

    beforeAll(async () => {
      h = await startHarness({
        rules: {
          "config.yaml": [
            "domain: web",
            "descriptors:",
            "  - { key: user, rate_limit: { unit: minute, requests_per_unit: 1 } }",
            "  - { key: trial, shadow_mode: true, rate_limit: { unit: minute, requests_per_unit: 1 } }",
          ].join("\n"),
        },
        env: { USE_PROMETHEUS: "true", PROMETHEUS_ADDR: "127.0.0.1:0" },
      });
      const client = createEnvoyClient(h.grpcTarget);
      for (let i = 0; i < 3; i++) {
        await client.ask({ domain: "web", descriptors: [descriptor("user", "alice"), descriptor("trial", "t")] });
      }
      await client.ask({ domain: "", descriptors: [descriptor("user", "x")] }).catch(() => undefined);
      client.close();
      await h.writeRules(
        "domain: web\ndescriptors: [ { key: user, rate_limit: { unit: minute, requests_per_unit: 2 } } ]\n",
      );
      s = await scrape(`http://127.0.0.1:${h.service.ports.metrics}/metrics`);
    });

    afterAll(async () => {
      await h?.close();
    });

    it("scrapes every metric named in every panel query and template variable", () => {
      const queries = [
        ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `${p.title} ${t.refId}`, expr: t.expr }))),
        ...dashboard.templating.list
          .filter((v) => v.type === "query")
          .map((v) => ({ where: `variable ${v.name}`, expr: typeof v.query === "string" ? v.query : v.query.query })),
      ];
      const missing = queries.flatMap(({ where, expr }) =>
        metricNames(expr)
          .filter((name) => !hasMetric(s, name))
          .map((name) => `${where}: ${name}`),
      );
      expect(missing).toEqual([]);
      // Traffic-driven series are there with values, not just declared.
      expect(s.value("ratelimit_service_rate_limit_over_limit", { domain: "web", key1: "user" })).toBe(2);
      expect(s.value("sluice_rules_reloads_total", { result: "success" })).toBe(2);
    });
  });
});
