/**
 * Issue 12's first reproduction against the built service: `--connections` HTTP/2 connections each open `--streams`
 * streams that send HEADERS and one complete ~2 KB RateLimitRequest but never END_STREAM (no grpc-timeout; the
 * node:http2 client answers PINGs). Meanwhile one clean connection sends a valid call every 50 ms and records its
 * latency. Afterwards the hostile connections close and the service's /stats must show hits for the valid calls
 * only: an unfinished call is never counted. Prints one JSON line with RSS (before, peak, after close), the valid
 * calls' latency (p50, p99, max), the hostile streams' outcomes, and the hit counts.
 *
 *   npm run build && node bench/hostile-streams.mjs [--connections 300 --streams 1000 --seconds 20]
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadGenerated } from "./lib/grpc-wire.mjs";
import { RESULTS_DIR } from "./lib/paths.mjs";
import { grpcCall, stopChildrenOnSignal, stopProcess } from "./lib/processes.mjs";
import { startServiceProcess } from "./lib/service-process.mjs";

const { values: args } = parseArgs({
  options: {
    connections: { type: "string", default: "300" },
    streams: { type: "string", default: "1000" },
    seconds: { type: "string", default: "20" },
  },
});
stopChildrenOnSignal();
const gen = await loadGenerated();
const root = fs.mkdtempSync(path.join(RESULTS_DIR, "hostile-"));
fs.mkdirSync(path.join(root, "config"));
fs.writeFileSync(
  path.join(root, "config", "config.yaml"),
  "domain: h\ndescriptors:\n  - key: k\n    rate_limit: {unit: hour, requests_per_unit: 100000000}\n",
);
// Rules in <root>/config: the reference's layout with no RUNTIME_SUBDIRECTORY.
const { proc, ports } = await startServiceProcess(gen, {
  rulesRoot: root,
  logFile: path.join(root, "service.log"),
  env: { RUNTIME_SUBDIRECTORY: "" },
});
const frameFor = (value) => {
  const msg = gen.RateLimitRequest.encode(
    gen.RateLimitRequest.fromPartial({ domain: "h", descriptors: [{ entries: [{ key: "k", value }] }] }),
  ).finish();
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  return Buffer.concat([prefix, msg]);
};
const totalHits = async () => {
  const stats = await (await fetch(`http://127.0.0.1:${ports.debug}/stats`)).text();
  return Number(/ratelimit\.service\.rate_limit\.h\.k\.total_hits: (\d+)/.exec(stats)?.[1] ?? 0);
};
const hitsBefore = await totalHits();
const rssMb = () =>
  Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1] ?? 0) / 1024);
const rss = { before: rssMb(), peak: 0, afterClose: 0 };
const sampler = setInterval(() => {
  rss.peak = Math.max(rss.peak, rssMb());
}, 250);

// The attacker runs in its own process, so its work does not delay this process's valid calls.
const attackerCode = `
const [port, connections, streams, frameHex] = process.argv.slice(1);
const frame = Buffer.from(frameHex, "hex");
const outcomes = {};
const sessions = [];
for (let c = 0; c < Number(connections); c++) {
  const s = http2.connect("http://127.0.0.1:" + port);
  s.on("error", () => {});
  sessions.push(s);
  for (let i = 0; i < Number(streams); i++) {
    const req = s.request({ ":method": "POST", ":path": "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", "content-type": "application/grpc", te: "trailers" }, { endStream: false });
    req.on("error", () => {});
    const tally = (h) => { const k = String(h["grpc-status"] ?? "none"); outcomes[k] = (outcomes[k] ?? 0) + 1; };
    req.on("response", (h) => h["grpc-status"] !== undefined && tally(h));
    req.on("trailers", tally);
    req.write(frame);
  }
  await new Promise((r) => setTimeout(r, 5));
}
process.on("message", () => { for (const s of sessions) s.destroy(); process.send(outcomes, () => process.exit(0)); });
process.send("opened");
`;
const { fork } = await import("node:child_process");
const attacker = fork("--input-type=module", [], {
  execArgv: [
    "--input-type=module",
    "-e",
    attackerCode,
    "--",
    String(ports.grpc),
    args.connections,
    args.streams,
    frameFor(`hostile-${"x".repeat(2000)}`).toString("hex"),
  ],
});
const outcomes = {};
const latencies = [];
let validCalls = 0;
const until = Date.now() + Number(args.seconds) * 1000;
while (Date.now() < until) {
  const t0 = performance.now();
  const r = await grpcCall(ports.grpc, frameFor("valid"));
  latencies.push(performance.now() - t0);
  if (r.status === "0") validCalls++;
  else outcomes[`valid-${r.status}-${r.code}`] = (outcomes[`valid-${r.status}-${r.code}`] ?? 0) + 1;
  await new Promise((res) => setTimeout(res, 50));
}
const attackerOutcomes = await new Promise((resolve) => {
  attacker.on("message", (m) => m !== "opened" && resolve(m));
  attacker.send("close");
});
Object.assign(outcomes, attackerOutcomes);
await new Promise((r) => setTimeout(r, 3000));
clearInterval(sampler);
rss.afterClose = rssMb();
const hits = (await totalHits()) - hitsBefore;
await stopProcess(proc);
latencies.sort((a, b) => a - b);
const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 10) / 10;
const report = {
  connections: Number(args.connections),
  streamsPerConnection: Number(args.streams),
  rssMb: rss,
  valid: { calls: latencies.length, ok: validCalls, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: pct(1) },
  hostileOutcomes: outcomes,
  // Hits counted while the hostile streams were open and after they closed: the valid calls' only.
  hits,
  countedOnlyValid: hits === latencies.length, // every valid call sent was complete, so each counts once
};
process.stdout.write(`${JSON.stringify(report)}\n`);
fs.rmSync(root, { recursive: true, force: true });
