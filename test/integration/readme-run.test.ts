/**
 * What the README's run sections tell a user to paste, run or rely on: the Node requirement, the /json examples (run
 * with curl against a real Sluice), the sed that points envoy/envoy.yaml at localhost, and the Envoy Gateway setup.
 * The docker-compose and nginx loops are run by envoy-demo.test.ts and nginx-auth.test.ts.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { decodeEnvoyConfig } from "../helpers/envoy-config.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { codeBlocks, README, readmeSection } from "../helpers/readme.js";
import { type Harness, startHarness } from "../helpers/service.js";
import { REPO } from "../helpers/sluice-process.js";

describe("README", () => {
  it("states the Node requirement that package.json's engines declares", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { engines: { node: string } };
    expect(pkg.engines.node).toBe("^20.11.0 || >=22");
    expect(README).toContain(
      `Node.js 20.11 or newer, or 22 and newer (package.json \`engines\`: \`${pkg.engines.node}\`)`,
    );
  });

  describe("/json from the command line", () => {
    let h: Harness;
    beforeAll(async () => {
      const rules = readFileSync(join(REPO, "config/config.yaml"), "utf8");
      h = await startHarness({ rules: { "config.yaml": rules }, clock: new FakeClock() });
    });
    afterAll(() => h?.close());

    it("every curl answers what the README shows (hitsAddend, isNegativeHits, check-only)", async () => {
      const [block] = codeBlocks(readmeSection("Quick start"), "sh").filter((b) => b.includes("isNegativeHits"));
      const lines = (block ?? "").split("\n");
      let ran = 0;
      for (const [i, line] of lines.entries()) {
        if (!line.startsWith("curl ")) continue;
        const command = line.replace("localhost:8080", `127.0.0.1:${h.service.ports.http}`);
        // Asynchronously: the Sluice answering curl runs in this process.
        const { stdout } = await promisify(execFile)("bash", ["-c", command], { encoding: "utf8" });
        expect(JSON.parse(stdout), line).toEqual(JSON.parse((lines[i + 1] ?? "").replace(/^# /, "")));
        ran++;
      }
      expect(ran).toBe(3);
    });
  });

  it("Run with Envoy: the sed points both clusters at localhost and the result still decodes", () => {
    const [block] = codeBlocks(readmeSection("Run with Envoy"), "sh");
    const sed = (block ?? "").split("\n").find((l) => l.startsWith("sed "));
    expect(sed).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), "sluice-readme-"));
    try {
      const command = (sed ?? "").replace("> envoy-local.yaml", `> ${join(dir, "envoy-local.yaml")}`);
      execFileSync("bash", ["-c", command], { cwd: REPO });
      const local = readFileSync(join(dir, "envoy-local.yaml"), "utf8");
      decodeEnvoyConfig(parse(local));
      const sockets = [...local.matchAll(/socket_address: \{ address: ([^,]+), port_value: (\d+) \}/g)].map(
        (m) => `${m[1]}:${m[2]}`,
      );
      expect(sockets).toEqual(["0.0.0.0:9901", "0.0.0.0:10000", "127.0.0.1:8081", "127.0.0.1:9000"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Deploy on Envoy Gateway: the EnvoyGateway snippet sets the image, and Envoy Gateway's environment starts", () => {
    const section = readmeSection("Deploy on Envoy Gateway");
    const [yaml] = codeBlocks(section, "yaml");
    const config = parse(yaml ?? "") as {
      provider: { kubernetes: { rateLimitDeployment: { container: { image: string } } } };
      rateLimit: { backend: { type: string; redis: { url: string } } };
    };
    expect(config.provider.kubernetes.rateLimitDeployment.container.image).toMatch(/sluice/);
    expect(config.rateLimit.backend.type).toBe("Redis");
    // The environment Envoy Gateway's Deployment sets (its resource.go), TLS file paths included.
    const env = {
      RUNTIME_ROOT: "/data",
      RUNTIME_SUBDIRECTORY: "ratelimit",
      RUNTIME_IGNOREDOTFILES: "true",
      RUNTIME_WATCH_ROOT: "false",
      LOG_LEVEL: "info",
      USE_STATSD: "false",
      CONFIG_TYPE: "GRPC_XDS_SOTW",
      CONFIG_GRPC_XDS_SERVER_URL: "envoy-gateway:18001",
      CONFIG_GRPC_XDS_NODE_ID: "envoy-ratelimit",
      FORCE_START_WITHOUT_INITIAL_CONFIG: "true",
      REDIS_SOCKET_TYPE: "tcp",
      REDIS_URL: config.rateLimit.backend.redis.url,
      GRPC_SERVER_USE_TLS: "true",
      GRPC_SERVER_TLS_CERT: "/certs/tls.crt",
      GRPC_SERVER_TLS_KEY: "/certs/tls.key",
      GRPC_SERVER_TLS_CA_CERT: "/certs/ca.crt",
    };
    for (const name of ["RUNTIME_ROOT=/data", "RUNTIME_SUBDIRECTORY=ratelimit", "REDIS_SOCKET_TYPE=tcp"]) {
      expect(section).toContain(name);
    }
    // The section names the xDS and TLS settings Envoy Gateway sets; envoy-gateway.test.ts starts the built service
    // with exactly this environment (real certificate files, a real xDS server) and checks that it serves.
    for (const name of [
      "CONFIG_TYPE",
      "CONFIG_GRPC_XDS_SERVER_URL",
      "GRPC_SERVER_USE_TLS",
      "GRPC_SERVER_TLS_CA_CERT",
    ]) {
      expect(section).toContain(name);
      expect(env).toHaveProperty(name);
    }
    expect(section).toContain("CONFIG_TYPE=GRPC_XDS_SOTW");
    expect(section).toContain("GRPC_SERVER_USE_TLS=true");
  });
});
