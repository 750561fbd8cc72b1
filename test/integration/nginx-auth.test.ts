/**
 * nginx's auth_request in front of an app, for real: Debian's nginx runs the documented example (nginx/sluice.conf,
 * with only its three addresses replaced by free loopback ports) in front of a small node upstream, and asks an
 * in-process Sluice (fake clock) that serves the documented rules (config/nginx.yaml). Clients connect from
 * different loopback addresses (127.0.0.x) so each one is a different remote_address.
 */
import { readFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeClock } from "../helpers/fake-clock.js";
import { type Nginx, startNginx } from "../helpers/nginx.js";
import { freePort } from "../helpers/ports.js";
import { codeBlocks, curlLoop, readmeSection } from "../helpers/readme.js";
import { type Harness, startHarness } from "../helpers/service.js";
import { REPO } from "../helpers/sluice-process.js";

const EXAMPLE = readFileSync(join(REPO, "nginx/sluice.conf"), "utf8");
const RULES = readFileSync(join(REPO, "config/nginx.yaml"), "utf8");
const SECONDS_LEFT_IN_MINUTE = 60; // FakeClock starts on a minute boundary

/** The example with its app, Sluice and listen addresses pointed at this test's servers. */
function exampleFor(ports: { app: number; sluice: number; listen: number }, conf = EXAMPLE): string {
  const swaps: [string, string][] = [
    ["server 127.0.0.1:3000;", `server 127.0.0.1:${ports.app};`],
    ["server 127.0.0.1:8080;", `server 127.0.0.1:${ports.sluice};`],
    ["listen 8000;", `listen 127.0.0.1:${ports.listen};`],
  ];
  let out = conf;
  for (const [from, to] of swaps) {
    expect(out).toContain(from);
    out = out.replace(from, to);
  }
  return out;
}

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

let clock: FakeClock;
let sluice: Harness;
let app: Server;
let appPort: number;
let nginx: Nginx;
let nginxPort: number;
const seen: Seen[] = [];

function get(
  port: number,
  path: string,
  from: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, path, method, localAddress: from, headers, agent: false };
    const req = request(options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  app = createServer((req, res) => {
    seen.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("from the app\n");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
  appPort = (app.address() as AddressInfo).port;
  clock = new FakeClock();
  sluice = await startHarness({ rules: { "nginx.yaml": RULES }, clock });
  nginxPort = await freePort();
  nginx = await startNginx(
    exampleFor({ app: appPort, sluice: sluice.service.ports.http, listen: nginxPort }),
    nginxPort,
  );
}, 30_000);

afterAll(async () => {
  await nginx?.close();
  await sluice?.close();
  await new Promise((r) => app?.close(r));
});

describe("nginx auth_request → Sluice /nginx/auth (the documented example)", () => {
  it("answers the README's loop: /expensive twice, then 429", async () => {
    const loop = curlLoop(codeBlocks(readmeSection("Run with nginx"), "sh")[0] ?? "");
    expect(loop).toMatchObject({ count: 3, port: 8000, path: "/expensive", expected: [200, 200, 429] });
    expect(EXAMPLE).toContain(`listen ${loop.port};`);
    const codes: number[] = [];
    for (let i = 0; i < loop.count; i++)
      codes.push((await get(nginxPort, loop.path, "127.0.0.20", loop.headers)).status);
    expect(codes).toEqual(loop.expected);
    clock.advance(60_000); // a fresh minute for the tests below
  });

  it("lets allowed requests reach the app and adds the rate-limit headers", async () => {
    const before = seen.length;
    const reply = await get(nginxPort, "/hello?x=1", "127.0.0.2");
    expect(reply.status, await nginx.errorLog()).toBe(200);
    expect(reply.body).toBe("from the app\n");
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)?.path).toBe("/hello?x=1");
    // The per-IP limit (10 a minute) is the only one that applies to /hello.
    expect(reply.headers["x-ratelimit-limit"]).toBe("10, 10;w=60");
    expect(reply.headers["x-ratelimit-remaining"]).toBe("9");
    expect(reply.headers["x-ratelimit-reset"]).toBe(String(SECONDS_LEFT_IN_MINUTE));
    expect(reply.headers["retry-after"]).toBeUndefined();
  });

  it("answers 429 with Retry-After once a path is over its limit, and the app never sees it", async () => {
    for (let i = 0; i < 2; i++) expect((await get(nginxPort, "/expensive", "127.0.0.3")).status).toBe(200);
    const before = seen.length;
    const limited = await get(nginxPort, "/expensive", "127.0.0.3");
    expect(limited.status).toBe(429);
    expect(limited.body).toBe('{"error":"rate_limited"}\n');
    expect(limited.headers["content-type"]).toBe("application/json");
    expect(limited.headers["retry-after"]).toBe(String(SECONDS_LEFT_IN_MINUTE));
    expect(limited.headers["x-ratelimit-remaining"]).toBe("0");
    expect(limited.headers["x-ratelimit-limit"]).toBe("2, 10;w=60, 2;w=60");
    expect(seen.length).toBe(before);
  });

  it("keeps per-path and per-IP limits independent", async () => {
    // The /expensive limit is shared by every client; another path from the same client is unaffected.
    expect((await get(nginxPort, "/expensive", "127.0.0.4")).status).toBe(429);
    expect((await get(nginxPort, "/cheap", "127.0.0.3")).status).toBe(200);
    // One client exhausts its own 10 a minute; another client is unaffected.
    for (let i = 0; i < 10; i++) expect((await get(nginxPort, "/cheap", "127.0.0.5")).status).toBe(200);
    expect((await get(nginxPort, "/cheap", "127.0.0.5")).status).toBe(429);
    expect((await get(nginxPort, "/cheap", "127.0.0.6")).status).toBe(200);
    // A new window lets the client through again.
    clock.advance(60_000);
    expect((await get(nginxPort, "/cheap", "127.0.0.5")).status).toBe(200);
  });

  it("limits per user and tier from request headers, and skips that limit when a header is missing", async () => {
    const alice = { "X-Tier": "free", "X-User": "alice" };
    for (let i = 0; i < 5; i++) expect((await get(nginxPort, "/u", "127.0.0.7", alice)).status).toBe(200);
    const limited = await get(nginxPort, "/u", "127.0.0.8", alice);
    expect(limited.status).toBe(429);
    expect(limited.headers["x-ratelimit-limit"]).toBe("5, 10;w=60, 5;w=60");
    expect((await get(nginxPort, "/u", "127.0.0.8", { "X-Tier": "free", "X-User": "bob" })).status).toBe(200);
    expect((await get(nginxPort, "/u", "127.0.0.8", { "X-Tier": "pro", "X-User": "alice" })).status).toBe(200);
    expect((await get(nginxPort, "/u", "127.0.0.8", { "X-User": "alice" })).status).toBe(200);
  });

  it("limits per method from $request_method", async () => {
    for (let i = 0; i < 5; i++) {
      expect((await get(nginxPort, `/items/${i}`, `127.0.1.${i}`, {}, "DELETE")).status).toBe(200);
    }
    const before = seen.length;
    expect((await get(nginxPort, "/items/9", "127.0.1.9", {}, "DELETE")).status).toBe(429);
    expect(seen.length).toBe(before);
    expect((await get(nginxPort, "/items/9", "127.0.1.9")).status).toBe(200);
    expect(seen.at(-1)?.method).toBe("GET");
  });

  it("never lets a client choose its own address: X-Real-IP is overwritten by nginx", async () => {
    for (let i = 0; i < 10; i++) {
      await get(nginxPort, "/spoof", "127.0.0.9", { "X-Real-IP": `10.0.0.${i}` });
    }
    expect((await get(nginxPort, "/spoof", "127.0.0.9", { "X-Real-IP": "10.9.9.9" })).status).toBe(429);
  });
});

describe("when Sluice cannot answer", () => {
  it("fails closed with 500 when the example's fail-open lines are deleted", async () => {
    const failOpen = /^\s*proxy_intercept_errors\s+on;\n\s*error_page\s+500 502 503 504 = @sluice_unavailable;\n/m;
    expect(EXAMPLE).toMatch(failOpen);
    const port = await freePort();
    const deadSluice = await freePort(); // nothing listens there
    const closed = await startNginx(
      exampleFor({ app: appPort, sluice: deadSluice, listen: port }, EXAMPLE.replace(failOpen, "")),
      port,
    );
    try {
      const before = seen.length;
      expect((await get(port, "/hello", "127.0.0.2")).status).toBe(500);
      expect(seen.length).toBe(before);
    } finally {
      await closed.close();
    }
  });

  it("fails open as documented: with Sluice stopped, requests reach the app without rate-limit headers", async () => {
    await sluice.close();
    const before = seen.length;
    const reply = await get(nginxPort, "/after-stop", "127.0.0.10");
    expect(reply.status, await nginx.errorLog()).toBe(200);
    expect(reply.body).toBe("from the app\n");
    expect(seen.length).toBe(before + 1);
    expect(reply.headers["x-ratelimit-remaining"]).toBeUndefined();
  });
});

describe("/nginx/auth answers nginx can act on", () => {
  it("400 for a bad mapping, 503 with no rules loaded, 200 when no descriptor could be built (as Envoy sends nothing)", async () => {
    // A broken rule file at startup: no rules are loaded, so no decision can be made.
    const bare = await startHarness({ rules: { "bad.yaml": "domain: nginx\ndescriptors: 7\n" } });
    try {
      const port = bare.service.ports.http;
      const bad = await get(port, "/nginx/auth?domain=nginx&descriptor=user", "127.0.0.1");
      expect(bad.status).toBe(400);
      expect(bad.body).toBe('Bad Request: descriptor "user": entry "user" is not <key>:<header> or <key>=<value>\n');
      const noRules = await get(port, "/nginx/auth?domain=nginx&descriptor=user:x-user", "127.0.0.1", {
        "X-User": "a",
      });
      expect(noRules.status).toBe(503);
      expect(noRules.body).toBe("Service Unavailable: no rate limit configuration loaded\n");
      const nothing = await get(port, "/nginx/auth?domain=nginx&descriptor=user:x-user", "127.0.0.1");
      expect(nothing.status).toBe(200);
      expect(nothing.headers["x-ratelimit-limit"]).toBeUndefined();
    } finally {
      await bare.close();
    }
  });
});
