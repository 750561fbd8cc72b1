/**
 * Self-test of the bench's own machinery (run after changing bench/lib): the response scanner against the generated
 * encoder, the load generator against the no-op server (every call verified OK), and the generator's detection of
 * wrong decisions and of gRPC errors (a trailers-only error from a tiny in-process server). Needs dist/ (build first).
 *
 *   node bench/selftest.mjs
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import path from "node:path";
import { CODE, encodeRequestFrame, loadGenerated, scanResponseFrame } from "./lib/grpc-wire.mjs";
import { stripTableSizeUpdates } from "./lib/h2-frames.mjs";
import { createHpackOracle } from "./lib/hpack-oracle.mjs";
import { createLoadRunner, EXPECT } from "./lib/load-generator.mjs";
import { BENCH_DIR } from "./lib/paths.mjs";
import { freePort, spawnPinned, stopProcess, waitForGrpc } from "./lib/processes.mjs";
import { buildWorkload } from "./lib/workloads.mjs";

const gen = await loadGenerated();

function frameOf(bytes) {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

// 1. scanResponseFrame reads overall_code and counts statuses exactly as the generated decoder would.
const status = { code: 2, currentLimit: { requestsPerUnit: 10, unit: 3, name: "n" }, limitRemaining: 0 };
const response = gen.RateLimitResponse.fromPartial({ overallCode: CODE.OVER_LIMIT, statuses: [status, status] });
assert.deepEqual(scanResponseFrame(frameOf(gen.RateLimitResponse.encode(response).finish())), {
  code: CODE.OVER_LIMIT,
  statuses: 2,
});
assert.equal(scanResponseFrame(Buffer.from([0, 0, 0, 0, 9, 8])).code, -1, "length prefix mismatch");
assert.equal(scanResponseFrame(Buffer.from([1, 0, 0, 0, 0])).code, -1, "compressed flag");
assert.deepEqual(scanResponseFrame(frameOf(new Uint8Array(0))), { code: CODE.UNKNOWN, statuses: 0 });

// 2. HPACK helpers: table-size updates are stripped, the oracle decodes literal fields.
assert.deepEqual([...stripTableSizeUpdates(Buffer.from([0x20, 0x3f, 0xe1, 0x1f, 0x88]))], [0x88]);
const oracle = await createHpackOracle();
const te = Buffer.from([0x00, 0x02, ...Buffer.from("te"), 0x08, ...Buffer.from("trailers")]);
assert.deepEqual(await oracle.decode(Buffer.concat([Buffer.from([0x20]), te])), { te: "trailers" });
await oracle.close();

const common = { allowOk: 0, connections: 2, inFlight: 8 };

// 3. Against the no-op server every call of W2 is verified OK, and a wrong expectation is caught.
const port = await freePort();
const noop = spawnPinned(null, [process.execPath, path.join(BENCH_DIR, "noop-server.mjs"), String(port)], {
  env: process.env,
  logFile: "/tmp/sluice-bench-selftest.log",
});
try {
  await waitForGrpc(noop, port, encodeRequestFrame(gen, "bench", [[["probe", "x"]]]));
  const w2 = buildWorkload(gen, "W2", 1000);
  const ok = await createLoadRunner({ ...common, port, frames: w2.frames, expect: w2.expect, statuses: 0 });
  const slice = await ok.runSlice(500);
  const totals = await ok.totals();
  await ok.close();
  assert.ok(slice.requests > 100, `only ${slice.requests} calls`);
  assert.equal(totals.errors + totals.wrongDecisions, 0, totals.problems.join("; "));
  assert.equal(totals.ok, totals.verified);

  // Open loop: the rate asked for (within 10 %), every call verified; slowMs 0 keeps every recorded call's timing.
  const pacedRunner = await createLoadRunner({
    ...common,
    inFlight: 64,
    rate: 2000,
    slowMs: 0,
    port,
    frames: w2.frames,
    expect: w2.expect,
    statuses: 0,
  });
  const pacedSlice = await pacedRunner.runSlice(1000);
  const pacedTotals = await pacedRunner.totals();
  await pacedRunner.close();
  assert.ok(Math.abs(pacedSlice.requests - 2000) <= 200, `open loop at 2,000/s made ${pacedSlice.requests} calls`);
  assert.equal(pacedTotals.errors + pacedTotals.wrongDecisions, 0, pacedTotals.problems.join("; "));
  assert.equal(pacedTotals.slow.length, pacedTotals.latencySamples);

  const over = new Uint8Array(w2.frames.length).fill(EXPECT.OVER);
  const wrong = await createLoadRunner({ ...common, port, frames: w2.frames, expect: over, statuses: -1 });
  await wrong.runSlice(200);
  const wrongTotals = await wrong.totals();
  await wrong.close();
  assert.equal(wrongTotals.wrongDecisions, wrongTotals.verified, "every OK answer to an over-limit key is wrong");
} finally {
  await stopProcess(noop);
}

// 4. A trailers-only gRPC error is counted once per call, with its status and message.
const failing = http2.createServer();
failing.on("stream", (stream) => {
  stream.resume();
  stream.on("end", () =>
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": "3", "grpc-message": "bad" },
      { endStream: true },
    ),
  );
});
await new Promise((resolve) => failing.listen(0, "127.0.0.1", resolve));
const bad = await createLoadRunner({
  ...common,
  port: failing.address().port,
  frames: [encodeRequestFrame(gen, "bench", [[["w1", "k1"]]])],
  expect: new Uint8Array(1),
  statuses: -1,
});
await bad.runSlice(200);
const badTotals = await bad.totals();
await bad.close();
failing.close();
assert.equal(badTotals.errors, badTotals.verified, "every call is an error, counted once");
assert.match(badTotals.problems[0] ?? "", /"grpc-status":"3".*"grpc-message":"bad"/);

console.log("bench self-test passed");
