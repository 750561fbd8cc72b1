/**
 * Reference point below the baseline: the same no-op written directly on node:http2 (no grpc-js). It shows how
 * much of the budget the grpc-js layer takes, and is the fastest server the load generator must be able to drive.
 *
 *   node bench/noop-h2-server.mjs <port>     (prints "listening <port>" once bound)
 */
import http2 from "node:http2";
import { pathToFileURL } from "node:url";
import { distPath } from "./lib/paths.mjs";

const { RateLimitRequest, RateLimitResponse } = await import(
  pathToFileURL(distPath("gen/envoy/service/ratelimit/v3/rls.js")).href
);

const port = Number(process.argv[2] ?? 0);
const server = http2.createServer();

function frame(proto) {
  const out = Buffer.allocUnsafe(5 + proto.length);
  out[0] = 0;
  out.writeUInt32BE(proto.length, 1);
  out.set(proto, 5);
  return out;
}

server.on("stream", (stream) => {
  const chunks = [];
  stream.on("data", (c) => chunks.push(c));
  stream.on("end", () => {
    const body = Buffer.concat(chunks);
    const req = RateLimitRequest.decode(body.subarray(5));
    const ok = req.domain.length > 0 && req.descriptors.length > 0;
    const res = RateLimitResponse.encode({
      overallCode: ok ? 1 : 0,
      statuses: [],
      responseHeadersToAdd: [],
      requestHeadersToAdd: [],
      rawBody: Buffer.alloc(0),
    }).finish();
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame(res));
  });
});
server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
