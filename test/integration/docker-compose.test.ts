/**
 * docker-compose.yml, checked without a container engine: Debian's docker-compose (installed by `npm test`) parses and
 * validates it (`config -q`), and every path, port, host name and environment variable it names is checked against
 * the repository, Sluice's settings, envoy/envoy.yaml, prometheus/prometheus.yml and the Grafana provisioning.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseSettings } from "../../src/settings/settings.js";
import { REPO } from "../helpers/sluice-process.js";

type Obj = Record<string, unknown>;

interface Service {
  readonly image?: string;
  readonly build?: { readonly context: string };
  readonly command?: string[];
  readonly environment?: Record<string, string>;
  /** docker-compose 1.29 writes bind mounts as `source:target[:mode]` with an absolute source. */
  readonly volumes?: (string | { readonly type: string; readonly source: string; readonly target: string })[];
  readonly ports?: { readonly published: number; readonly target: number }[];
}

const COMPOSE = join(REPO, "docker-compose.yml");

try {
  execFileSync("docker-compose", ["version"], { stdio: "ignore" });
} catch {
  throw new Error(
    "docker-compose is not installed: `npm test` installs it (Debian: apt-get install -y docker-compose)",
  );
}

function compose(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("docker-compose", ["-f", args[0] ?? COMPOSE, ...args.slice(1)], { cwd: REPO, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let cached: Record<string, Service> | undefined;

/** The file as docker-compose resolves it: paths absolute, ports in long form. */
function resolved(): Record<string, Service> {
  if (cached === undefined) {
    const r = compose(COMPOSE, "config");
    expect(r.status, r.stderr).toBe(0);
    cached = (parse(r.stdout) as { services: Record<string, Service> }).services;
  }
  return cached;
}

interface Mount {
  readonly type: string;
  readonly source: string;
  readonly target: string;
}

function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== "string") return v;
    const [source = "", target = ""] = v.split(":");
    return { type: source.startsWith("/") ? "bind" : "volume", source, target };
  });
}

function service(name: string): Service {
  const s = resolved()[name];
  if (s === undefined) throw new Error(`no service ${name}`);
  return s;
}

/** Published ports, ascending; each is published on the same number as inside the container. */
function published(s: Service): number[] {
  return (s.ports ?? [])
    .map((p) => {
      expect(p.published).toBe(p.target);
      return p.target;
    })
    .sort((a, b) => a - b);
}

/** Target path of the bind mount whose source is `repoPath`. */
function mountOf(s: Service, repoPath: string): string | undefined {
  return mounts(s).find((v) => v.source === join(REPO, repoPath))?.target;
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

describe("docker-compose.yml", () => {
  it("is valid for docker-compose (config -q), which rejects a misspelt key", () => {
    const ok = compose(COMPOSE, "config", "-q");
    expect(ok.status, ok.stderr).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "sluice-compose-"));
    try {
      const bad = join(dir, "docker-compose.yml");
      writeFileSync(
        bad,
        readFileSync(COMPOSE, "utf8").replace("    environment:\n      REDIS_URL", "    enviroment:\n      REDIS_URL"),
      );
      const r = compose(bad, "config", "-q");
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("enviroment");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names only paths that exist: bind mounts, the build context and its Dockerfile", () => {
    const services = resolved();
    expect(Object.keys(services).sort()).toEqual(["demo-backend", "envoy", "grafana", "prometheus", "redis", "sluice"]);
    for (const [name, s] of Object.entries(services)) {
      for (const v of mounts(s)) {
        expect(v.type, `${name} ${v.source}`).toBe("bind");
        expect(v.source.startsWith(REPO), v.source).toBe(true);
        expect(existsSync(v.source), `${name} mounts ${v.source}`).toBe(true);
      }
    }
    expect(services["sluice"]?.build?.context).toBe(REPO);
    expect(existsSync(join(REPO, "Dockerfile"))).toBe(true);
  });

  it("gives Sluice only variables its settings read, and publishes exactly the ports they set", () => {
    const sluice = service("sluice");
    const env = sluice.environment ?? {};
    const settingsSource = readdirSync(join(REPO, "src/settings"))
      .map((f) => readFileSync(join(REPO, "src/settings", f), "utf8"))
      .join("\n");
    for (const name of Object.keys(env)) expect(settingsSource, name).toContain(`"${name}"`);
    const settings = parseSettings(env, "/app");
    expect(settings.backend).toBe("redis");
    expect(settings.redis?.main.target).toContain("redis:6379");
    expect(settings.runtime.root).toBe("/app");
    expect(mountOf(sluice, "config")).toBe(join(settings.runtime.root, settings.runtime.appDirectory));
    expect(env["USE_PROMETHEUS"]).toBe("true");
    const metricsPort = portOf(env["PROMETHEUS_ADDR"] ?? "");
    const expected = [settings.http.port, settings.grpc.port, settings.debug.port, metricsPort];
    expect(published(sluice)).toEqual(expected.sort((a, b) => a - b));
  });

  it("wires Envoy to Sluice's gRPC port and the demo backend's port, as envoy/envoy.yaml says", () => {
    const envoy = service("envoy");
    const target = mountOf(envoy, "envoy/envoy.yaml");
    expect(envoy.command).toEqual(["envoy", "-c", target, "--log-level", "info"]);
    const doc = parse(readFileSync(join(REPO, "envoy/envoy.yaml"), "utf8")) as Obj;
    const text = JSON.stringify(doc);
    const sockets = [...text.matchAll(/"socket_address":\{"address":"([^"]+)","port_value":(\d+)\}/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    const grpcPort = parseSettings(service("sluice").environment ?? {}).grpc.port;
    const backend = service("demo-backend");
    expect(sockets).toEqual([
      ["0.0.0.0", 9901],
      ["0.0.0.0", 10000],
      ["sluice", grpcPort],
      ["demo-backend", Number(backend.environment?.["PORT"])],
    ]);
    expect(published(envoy)).toEqual([9901, 10000]);
    expect(published(backend)).toEqual([Number(backend.environment?.["PORT"])]);
    // The backend runs the repository's script from its mount.
    expect(backend.command).toEqual(["node", `${mountOf(backend, "demo")}/llm-backend.mjs`]);
    expect(existsSync(join(REPO, "demo/llm-backend.mjs"))).toBe(true);
  });

  it("has Prometheus scrape Sluice's metrics address and path, and Envoy's admin", () => {
    const prometheus = service("prometheus");
    expect(mountOf(prometheus, "prometheus/prometheus.yml")).toBe("/etc/prometheus/prometheus.yml");
    const config = parse(readFileSync(join(REPO, "prometheus/prometheus.yml"), "utf8")) as {
      scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const jobs = Object.fromEntries(config.scrape_configs.map((j) => [j.job_name, j]));
    const env = service("sluice").environment ?? {};
    expect(jobs["sluice"]?.static_configs[0]?.targets).toEqual([`sluice:${portOf(env["PROMETHEUS_ADDR"] ?? "")}`]);
    expect(jobs["sluice"]?.metrics_path).toBe(env["PROMETHEUS_PATH"] ?? "/metrics");
    expect(jobs["envoy"]?.static_configs[0]?.targets).toEqual(["envoy:9901"]);
    expect(published(prometheus)).toEqual([9090]);
  });

  it("provisions Grafana with that Prometheus and every dashboard in grafana/dashboards", () => {
    const grafana = service("grafana");
    expect(mountOf(grafana, "grafana/provisioning")).toBe("/etc/grafana/provisioning");
    const dashboards = mountOf(grafana, "grafana/dashboards");
    const provider = parse(readFileSync(join(REPO, "grafana/provisioning/dashboards/sluice.yml"), "utf8")) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.providers[0]).toMatchObject({ type: "file", options: { path: dashboards } });
    const datasource = parse(readFileSync(join(REPO, "grafana/provisioning/datasources/prometheus.yml"), "utf8")) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(datasource.datasources[0]).toMatchObject({ uid: "prometheus", type: "prometheus" });
    expect(datasource.datasources[0]?.url).toBe(`http://prometheus:${published(service("prometheus"))[0]}`);
    expect(existsSync(join(REPO, "grafana/dashboards/README.md"))).toBe(true);
    for (const file of readdirSync(join(REPO, "grafana/dashboards")).filter((f) => f.endsWith(".json"))) {
      expect(() => JSON.parse(readFileSync(join(REPO, "grafana/dashboards", file), "utf8")), file).not.toThrow();
    }
  });
});
