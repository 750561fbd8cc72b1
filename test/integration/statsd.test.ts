/**
 * USE_STATSD against a real UDP socket: after real gRPC traffic the service sends the reference's stat names as
 * counter deltas every STATS_FLUSH_INTERVAL and one timer per call, with EXTRA_TAGS in the name (gostats) or as
 * DogStatsD tags (USE_DOG_STATSD); with nobody listening it keeps serving.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { createEnvoyClient, descriptor } from "../helpers/envoy-client.js";
import { freePort } from "../helpers/ports.js";
import { type Harness, startHarness, waitFor } from "../helpers/service.js";

const RULES = `domain: web
descriptors:
  - key: user
    rate_limit: { unit: minute, requests_per_unit: 2 }
`;

interface Receiver {
  readonly port: number;
  readonly lines: string[];
  close(): void;
}

async function receiver(): Promise<Receiver> {
  const socket: Socket = createSocket("udp4");
  const lines: string[] = [];
  socket.on("message", (msg) => {
    for (const line of msg.toString("utf8").split("\n")) if (line !== "") lines.push(line);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, lines, close: () => socket.close() };
}

/** Sum of the counter deltas received for `name` (lines `name:<delta>|c[|#tags]`). */
function counter(lines: readonly string[], name: string): number {
  let total = 0;
  for (const line of lines) {
    const m = /^(.*):(-?[\d.]+)\|c(?:\|.*)?$/.exec(line);
    if (m && m[1] === name) total += Number(m[2]);
  }
  return total;
}

let h: Harness | undefined;
let r: Receiver | undefined;
afterEach(async () => {
  await h?.close();
  r?.close();
  h = undefined;
  r = undefined;
});

async function serve(env: Record<string, string>): Promise<Harness> {
  h = await startHarness({ rules: { "config.yaml": RULES }, env: { STATS_FLUSH_INTERVAL: "50ms", ...env } });
  const client = createEnvoyClient(h.grpcTarget);
  for (let i = 0; i < 3; i++) await client.ask({ domain: "web", descriptors: [descriptor("user", "alice")] });
  client.close();
  return h;
}

describe("statsd", () => {
  it("sends the reference's stat names and values to STATSD_HOST:STATSD_PORT", async () => {
    r = await receiver();
    const lines = r.lines;
    await serve({ USE_STATSD: "true", STATSD_HOST: "127.0.0.1", STATSD_PORT: String(r.port) });
    const hits = "ratelimit.service.rate_limit.web.user.total_hits";
    await waitFor(() => counter(lines, hits) === 3 && lines.some((l) => l.includes("response_time")), 10_000);
    expect(counter(lines, "ratelimit.service.rate_limit.web.user.over_limit")).toBe(1);
    expect(counter(lines, "ratelimit.service.rate_limit.web.user.within_limit")).toBe(2);
    expect(counter(lines, "ratelimit_server.ShouldRateLimit.total_requests")).toBe(3);
    expect(counter(lines, "ratelimit.service.config_load_success")).toBe(1);
    const timers = lines.filter((l) => l.startsWith("ratelimit_server.ShouldRateLimit.response_time:"));
    expect(timers.length).toBeGreaterThanOrEqual(1);
    for (const t of timers) expect(t).toMatch(/^ratelimit_server\.ShouldRateLimit\.response_time:[\d.]+\|ms$/);
  });

  it("writes EXTRA_TAGS into the name as gostats does (.__name=value)", async () => {
    r = await receiver();
    const lines = r.lines;
    await serve({ USE_STATSD: "true", STATSD_HOST: "127.0.0.1", STATSD_PORT: String(r.port), EXTRA_TAGS: "b:2,a:1" });
    await waitFor(() => counter(lines, "ratelimit.service.rate_limit.web.user.total_hits.__a=1.__b=2") === 3, 10_000);
  });

  it("sends EXTRA_TAGS as DogStatsD tags with USE_DOG_STATSD", async () => {
    r = await receiver();
    const lines = r.lines;
    await serve({
      USE_STATSD: "true",
      USE_DOG_STATSD: "true",
      STATSD_HOST: "127.0.0.1",
      STATSD_PORT: String(r.port),
      EXTRA_TAGS: "cluster:eu1",
    });
    const hits = "ratelimit.service.rate_limit.web.user.total_hits";
    await waitFor(() => counter(lines, hits) === 3, 10_000);
    for (const line of lines.filter((l) => l.startsWith(`${hits}:`))) expect(line).toMatch(/\|c\|#cluster:eu1$/);
  });

  it("keeps serving when no statsd listens", async () => {
    const port = await freePort();
    const served = await serve({ USE_STATSD: "true", STATSD_HOST: "127.0.0.1", STATSD_PORT: String(port) });
    await new Promise((resolve) => setTimeout(resolve, 200)); // a few flushes into the void
    const client = createEnvoyClient(served.grpcTarget);
    const res = await client.ask({ domain: "web", descriptors: [descriptor("user", "bob")] });
    client.close();
    expect(res.overall_code).toBe("OK");
  });

  it("sends nothing by default (USE_STATSD is false in Sluice)", async () => {
    r = await receiver();
    const served = await serve({ STATSD_HOST: "127.0.0.1", STATSD_PORT: String(r.port) });
    expect(served.service.stats.snapshot().length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.lines).toEqual([]);
  });
});
