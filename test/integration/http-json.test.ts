/**
 * The HTTP listeners over real sockets: POST /json (protojson in and out), GET /healthcheck on PORT, and the debug
 * port's /rlconfig, /stats and index.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpServer } from "../../src/transport/http/server.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { createLogSink } from "../helpers/log-sink.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";

const RULES = `domain: test
descriptors:
  - key: user
    rate_limit:
      name: per-user
      unit: hour
      requests_per_unit: 3
  - key: weekly
    rate_limit:
      unit: week
      requests_per_unit: 5
`;
const HOUR_RESET = 3600 - 840; // FakeClock's default instant is 840 s into its hour

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ rules: { "config.yaml": RULES }, clock: new FakeClock() });
});

afterAll(async () => {
  await h?.close();
});

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Raw HTTP request (fetch would normalise bodies and headers we want to control). */
function send(
  url: string,
  method: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const postJson = (body: string | Buffer) =>
  send(`${h.httpUrl}/json`, "POST", body, { "Content-Type": "application/json" });

describe("POST /json", () => {
  it("answers 200 with a protojson response (camelCase names, enum names, Duration as a string)", async () => {
    const res = await postJson(
      JSON.stringify({ domain: "test", descriptors: [{ entries: [{ key: "user", value: "a" }] }] }),
    );
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual({
      overallCode: "OK",
      statuses: [
        {
          code: "OK",
          currentLimit: { requestsPerUnit: 3, unit: "HOUR", name: "per-user" },
          limitRemaining: 2,
          durationUntilReset: `${HOUR_RESET}s`,
        },
      ],
    });
  });

  it("accepts snake_case field names and string uint64 values", async () => {
    const res = await postJson(
      JSON.stringify({
        domain: "test",
        hits_addend: 2,
        descriptors: [
          { entries: [{ key: "user", value: "b" }] },
          { entries: [{ key: "user", value: "c" }], hits_addend: "0" },
        ],
      }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).statuses.map((s: { limitRemaining?: number }) => s.limitRemaining ?? 0)).toEqual([
      1, 3,
    ]);
  });

  it("answers 429 with the response body when over the limit", async () => {
    const body = JSON.stringify({
      domain: "test",
      hitsAddend: 4,
      descriptors: [{ entries: [{ key: "user", value: "d" }] }],
    });
    const res = await postJson(body);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body)).toMatchObject({ overallCode: "OVER_LIMIT", statuses: [{ code: "OVER_LIMIT" }] });
  });

  it("writes WEEK for week limits", async () => {
    const res = await postJson(
      JSON.stringify({ domain: "test", descriptors: [{ entries: [{ key: "weekly", value: "w" }] }] }),
    );
    expect(JSON.parse(res.body).statuses[0].currentLimit.unit).toBe("WEEK");
  });

  it("answers an unknown domain 200 OK", async () => {
    const res = await postJson(
      JSON.stringify({ domain: "other", descriptors: [{ entries: [{ key: "k", value: "v" }] }] }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ overallCode: "OK", statuses: [{ code: "OK" }] });
  });

  it.each([
    ["malformed JSON", '{"domain": "test", ', /not JSON/],
    ["an empty body", "", /not JSON/],
    ["a JSON array", "[]", /must be a JSON object/],
    ["JSON null", "null", /must be a JSON object/],
    ["a JSON string", '"test"', /must be a JSON object/],
    [
      "an empty domain",
      '{"domain":"","descriptors":[{"entries":[{"key":"a","value":"b"}]}]}',
      /domain must not be empty/,
    ],
    ["no descriptors", '{"domain":"test"}', /descriptor list must not be empty/],
    ["a null descriptor", '{"domain":"test","descriptors":[null]}', /not a RateLimitRequest/],
    [
      "a non-numeric uint64",
      '{"domain":"test","descriptors":[{"entries":[],"hitsAddend":"lots"}]}',
      /not a RateLimitRequest/,
    ],
    ["a negative uint64", '{"domain":"test","descriptors":[{"entries":[],"hitsAddend":-1}]}', /hits_addend/],
    ["a negative hits_addend", '{"domain":"test","hitsAddend":-3,"descriptors":[{"entries":[]}]}', /hits_addend/],
    [
      "an override with WEEK (not in envoy.type.v3.RateLimitUnit)",
      '{"domain":"test","descriptors":[{"entries":[{"key":"a"}],"limit":{"requestsPerUnit":1,"unit":"WEEK"}}]}',
      /limit\.unit/,
    ],
  ])("answers 400 for %s", async (_name, body, message) => {
    const res = await postJson(body);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/^Bad Request: /);
    expect(res.body).toMatch(message);
  });

  it("answers 400 for a body that is not UTF-8", async () => {
    const res = await postJson(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/UTF-8/);
  });

  it("answers 413 for a body over 1 MiB, declared or streamed", async () => {
    const big = `{"domain":"${"x".repeat(1024 * 1024)}"}`;
    expect((await postJson(big)).status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${h.httpUrl}/json`, { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 20; i++) req.write("x".repeat(64 * 1024));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it("answers 404 for unknown paths", async () => {
    expect((await send(`${h.httpUrl}/nope`, "GET")).status).toBe(404);
  });
});

describe("GET /healthcheck", () => {
  it("answers 200 OK when healthy", async () => {
    const res = await send(`${h.httpUrl}/healthcheck`, "GET");
    expect(res).toMatchObject({ status: 200, body: "OK" });
  });

  it("with HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED, answers 500 until a config with a domain loads", async () => {
    const strict = await startHarness({ env: { HEALTHY_WITH_AT_LEAST_ONE_CONFIG_LOADED: "true" } });
    try {
      expect((await send(`${strict.httpUrl}/healthcheck`, "GET")).status).toBe(500);
      await strict.writeRules(RULES);
      expect(await send(`${strict.httpUrl}/healthcheck`, "GET")).toMatchObject({ status: 200, body: "OK" });
    } finally {
      await strict.close();
    }
  });

  it("turns unhealthy as soon as shutdown starts", async () => {
    const other = await startHarness({ rules: { "config.yaml": RULES } });
    const closing = other.service.close();
    expect(other.service.health.isHealthy()).toBe(false);
    await closing;
  });
});

describe("without rules", () => {
  it("answers /json with 503 until a good config loads", async () => {
    const empty = await startHarness({ rules: { "config.yaml": "domain: [unclosed" } });
    try {
      const body = JSON.stringify({ domain: "test", descriptors: [{ entries: [{ key: "user", value: "a" }] }] });
      const res = await send(`${empty.httpUrl}/json`, "POST", body);
      expect(res.status).toBe(503);
      expect(res.body).toMatch(/no rate limit configuration loaded/);
      await empty.writeRules(RULES);
      expect((await send(`${empty.httpUrl}/json`, "POST", body)).status).toBe(200);
    } finally {
      await empty.close();
    }
  });
});

describe("debug port", () => {
  it("lists its endpoints on /", async () => {
    const res = await send(`${h.debugUrl}/`, "GET");
    expect(res.status).toBe(200);
    expect(res.body).toContain("/rlconfig: ");
    expect(res.body).toContain("/stats: ");
  });

  it("dumps the loaded rules on /rlconfig in the reference's line format", async () => {
    const res = await send(`${h.debugUrl}/rlconfig`, "GET");
    expect(res.status).toBe(200);
    expect(res.body).toContain("test.user: unit=HOUR requests_per_unit=3");
  });

  it("shows reference stat names on /stats", async () => {
    await postJson(JSON.stringify({ domain: "test", descriptors: [{ entries: [{ key: "user", value: "s" }] }] }));
    await waitFor(async () => (await send(`${h.debugUrl}/stats`, "GET")).body.includes("total_hits"), 2_000);
    const res = await send(`${h.debugUrl}/stats`, "GET");
    expect(res.body).toMatch(/^ratelimit\.service\.rate_limit\.test\.user\.total_hits: \d+$/m);
    expect(res.body).toMatch(/^ratelimit\.service\.config_load_success: 1$/m);
    expect(res.body).toMatch(/^ratelimit_server\.ShouldRateLimit\.total_requests: \d+$/m);
  });
});

describe("startHttpServer()", () => {
  it("routes by exact path, lets an in-flight request finish on close() and drops idle keep-alive sockets", async () => {
    let release: () => void = () => {};
    const server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      log: createLogSink().logger,
      routes: [
        {
          path: "/slow",
          help: "",
          handler: (_req, res) =>
            new Promise<void>((done) => {
              release = () => {
                res.end("done");
                done();
              };
            }),
        },
        {
          path: "/fast",
          help: "",
          handler: (_req, res) => {
            res.end("fast");
          },
        },
      ],
    });
    const base = `http://127.0.0.1:${server.port}`;
    expect((await send(`${base}/fast?x=1`, "GET")).body).toBe("fast");
    expect((await send(`${base}/fast/`, "GET")).status).toBe(404);
    const slow = send(`${base}/slow`, "GET");
    await new Promise((r) => setTimeout(r, 50)); // let the slow request reach its handler
    const closing = server.close(5_000);
    release();
    expect((await slow).body).toBe("done");
    const t0 = Date.now();
    await closing;
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
