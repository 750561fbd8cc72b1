/**
 * Client CPU per call: the SDK (`createClient().shouldRateLimit`, dist/index.js) against a bare @grpc/grpc-js call
 * with the generated client (dist/gen) that sends the same request, both to one real Sluice (`node dist/main.js`,
 * memory backend, a rule that matches so the response carries a full status). Sluice runs in its own process, so
 * `process.cpuUsage()` here measures the clients only. The two variants alternate in short rounds (order swapped each
 * round), so both see the same machine state; the overhead is the median over rounds of (SDK - bare) in the same
 * round, which issue 10 caps at 15 µs.
 *
 *   npm run build && node bench/sdk-overhead.mjs                  10 rounds of 600 calls per variant (~10 s)
 *   node bench/sdk-overhead.mjs --rounds 2 --calls 1000            a quick look
 *
 * On a busy machine the end-to-end difference drowns in grpc-js's own cost (~100-200 µs of client CPU per call), so
 * the bench also times what the SDK adds around the same grpc-js call in isolation: building the request from plain
 * descriptors and mapping a real response to the plain result (buildRequest + toResult), in a tight loop.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import grpc from "@grpc/grpc-js";
import { distPath } from "./lib/paths.mjs";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "10" },
    calls: { type: "string", default: "600" },
    "in-flight": { type: "string", default: "8" },
    warmup: { type: "string", default: "1000" },
  },
});
const ROUNDS = Number(args.rounds);
const CALLS = Number(args.calls);
const IN_FLIGHT = Number(args["in-flight"]);
const TARGET_US = 15;

const { RateLimitServiceClient } = await import(pathToFileURL(distPath("gen/envoy/service/ratelimit/v3/rls.js")).href);
const { createClient } = await import(pathToFileURL(distPath("index.js")).href);
const { buildRequest, DEFAULT_HITS } = await import(pathToFileURL(distPath("client/request.js")).href);
const { toResult } = await import(pathToFileURL(distPath("client/result.js")).href);

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-sdk-bench-"));
fs.mkdirSync(path.join(root, "config"));
fs.writeFileSync(
  path.join(root, "config", "rules.yaml"),
  "domain: bench\ndescriptors:\n  - key: user\n    rate_limit: { unit: hour, requests_per_unit: 4000000000, name: bench }\n",
);

const sluice = spawn(process.execPath, [distPath("main.js")], {
  env: {
    PATH: process.env.PATH ?? "",
    ...{ BACKEND_TYPE: "memory", RUNTIME_ROOT: root, RUNTIME_WATCH_ROOT: "false", WORKERS: "1" },
    ...{
      HOST: "127.0.0.1",
      GRPC_HOST: "127.0.0.1",
      DEBUG_HOST: "127.0.0.1",
      PORT: "0",
      GRPC_PORT: "0",
      DEBUG_PORT: "0",
    },
    ...{ LOG_FORMAT: "json", LOG_LEVEL: "info" },
  },
  stdio: ["ignore", "pipe", "inherit"],
});
const cleanup = () => {
  sluice.kill("SIGKILL");
  fs.rmSync(root, { recursive: true, force: true });
};
process.on("exit", cleanup);

const address = await new Promise((resolve, reject) => {
  let out = "";
  sluice.stdout.on("data", (d) => {
    out += d.toString();
    const line = out.split("\n").find((l) => l.includes('"Sluice started"'));
    if (line) resolve(JSON.parse(line).grpc);
  });
  sluice.once("exit", (code) => reject(new Error(`Sluice exited with ${code}`)));
});

const OWN = { "grpc.use_local_subchannel_pool": 1 };
const bare = new RateLimitServiceClient(address, grpc.credentials.createInsecure(), OWN);
const sdk = createClient({ address, timeoutMs: 5_000, channelOptions: OWN });

/** The bare call: the same message the SDK sends, built and sent with the generated client, with a deadline. */
function bareCall(i) {
  const request = {
    domain: "bench",
    descriptors: [{ entries: [{ key: "user", value: `u${i & 1023}` }], hitsAddend: undefined, isNegativeHits: false }],
    hitsAddend: 0,
  };
  return new Promise((resolve, reject) => {
    bare.shouldRateLimit(request, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => {
      if (err) reject(err);
      else resolve(res.overallCode);
    });
  });
}

function sdkCall(i) {
  return sdk.shouldRateLimit("bench", [{ user: `u${i & 1023}` }]).then((r) => r.code);
}

/** Runs `n` calls with IN_FLIGHT outstanding; returns client CPU µs per call and calls per second. */
async function run(call, n) {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    while (next < n) await call(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const cpu = process.cpuUsage(cpu0);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { cpuUsPerCall: (cpu.user + cpu.system) / n, callsPerSecond: n / seconds };
}

/** µs per buildRequest + toResult, on a response Sluice really sent. */
function mappingCost(response, n) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const req = buildRequest("bench", [{ user: `u${i & 1023}` }], DEFAULT_HITS);
    sink += req.descriptors.length + toResult(response).descriptors.length;
  }
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  return sink > 0 ? us : Number.NaN;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

try {
  await run(bareCall, Number(args.warmup));
  await run(sdkCall, Number(args.warmup));
  const results = { bare: [], sdk: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ["bare", "sdk"] : ["sdk", "bare"];
    for (const name of order) results[name].push(await run(name === "bare" ? bareCall : sdkCall, CALLS));
  }
  const bareUs = median(results.bare.map((x) => x.cpuUsPerCall));
  const sdkUs = median(results.sdk.map((x) => x.cpuUsPerCall));
  const delta = median(results.sdk.map((x, r) => x.cpuUsPerCall - results.bare[r].cpuUsPerCall));
  const fmt = (n) => n.toFixed(1);
  const response = await new Promise((resolve, reject) =>
    bare.shouldRateLimit(
      {
        domain: "bench",
        descriptors: [{ entries: [{ key: "user", value: "u1" }], isNegativeHits: false }],
        hitsAddend: 0,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  mappingCost(response, 50_000);
  const mapping = median([1, 2, 3].map(() => mappingCost(response, 100_000)));
  console.log(`rounds ${ROUNDS} x ${CALLS} calls per variant, ${IN_FLIGHT} in flight, Node ${process.version}`);
  for (const name of ["bare", "sdk"]) {
    const rows = results[name];
    console.log(
      `${name.padEnd(5)} client CPU per call: median ${fmt(median(rows.map((x) => x.cpuUsPerCall)))} µs ` +
        `(rounds: ${rows.map((x) => fmt(x.cpuUsPerCall)).join(", ")}); ` +
        `median ${Math.round(median(rows.map((x) => x.callsPerSecond)))} calls/s`,
    );
  }
  console.log(
    `SDK overhead (median of per-round SDK - bare): ${fmt(delta)} µs per call ` +
      `(ratio of medians ${(sdkUs / bareUs).toFixed(3)}), target <= ${TARGET_US} µs: ` +
      (delta <= TARGET_US ? "PASS" : "FAIL"),
  );
  console.log(`SDK mapping alone (buildRequest + toResult, median of 3 x 100k): ${mapping.toFixed(2)} µs per call`);
  process.exitCode = delta <= TARGET_US ? 0 : 1;
} finally {
  bare.close();
  sdk.close();
  cleanup();
}
