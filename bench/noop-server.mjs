/**
 * The baseline: a no-op @grpc/grpc-js RateLimitService that decodes each request with the same generated code as
 * Sluice (dist/gen) and answers overall_code OK. Whatever Sluice costs above this is the price of its decisions.
 *
 *   node bench/noop-server.mjs <port> [--async]     (prints "listening <port>" once bound)
 *
 * --async answers from a microtask instead of inside the handler, as a service that awaits anything does.
 */
import { pathToFileURL } from "node:url";
import grpc from "@grpc/grpc-js";
import { distPath } from "./lib/paths.mjs";

const { RateLimitServiceService, RateLimitResponse_Code } = await import(
  pathToFileURL(distPath("gen/envoy/service/ratelimit/v3/rls.js")).href
);

const port = Number(process.argv[2] ?? 0);
const deferred = process.argv.includes("--async");
const server = new grpc.Server();
server.addService(RateLimitServiceService, {
  shouldRateLimit(call, callback) {
    // Touch the decoded request so the decode cannot be skipped, as a real service reads it.
    const ok = call.request.domain.length > 0 && call.request.descriptors.length > 0;
    const answer = () =>
      callback(null, {
        overallCode: ok ? RateLimitResponse_Code.OK : RateLimitResponse_Code.UNKNOWN,
        statuses: [],
        responseHeadersToAdd: [],
        requestHeadersToAdd: [],
        rawBody: Buffer.alloc(0),
        dynamicMetadata: undefined,
        quota: undefined,
      });
    if (deferred) queueMicrotask(answer);
    else answer();
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) throw err;
  console.log(`listening ${bound}`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
