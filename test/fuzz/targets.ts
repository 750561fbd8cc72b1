/**
 * The fuzz targets (issue 12), shared by the short seeded slice CI runs (test/integration/fuzz-slice.test.ts) and
 * the full run (`npm run fuzz`, test/fuzz/run.ts). Each target drives a real running service (in-process for the
 * slice, its own process for the full run) with fast-check inputs from a fixed seed, and after every `VALID_EVERY`
 * hostile inputs sends a valid call whose answer is known exactly (a fresh key: OK, then the remaining count), so a target fails on a crash, a hang (every input
 * has a deadline), a wrong answer, or a status outside the documented set.
 */
import type { ClientHttp2Session } from "node:http2";
import { connect as connectTcp } from "node:net";
import fc from "fast-check";
import { ConfigError } from "../../src/domain/errors.js";
import { RateLimitRequest, RateLimitResponse } from "../../src/gen/envoy/service/ratelimit/v3/rls.js";
import { compileRuleSet } from "../../src/rules/compile.js";
import { frame, grpcStatus, h2call, h2connect, PREFACE, rawFrame } from "../helpers/h2-client.js";

/** The rule file every target's service runs with: domain `fuzz`, key `k`, 1,000,000 per hour. */
export const FUZZ_RULES = `domain: fuzz
descriptors:
  - key: k
    rate_limit: {unit: hour, requests_per_unit: 1000000}
  - key: d
    detailed_metric: true
    rate_limit: {unit: hour, requests_per_unit: 1000000}
`;

const VALID_EVERY = 50;
/** gRPC statuses a hostile message may get: OK, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL. */
const HOSTILE_GRPC_STATUSES = new Set([0, 3, 8, 12, 13]);
const HOSTILE_HTTP_STATUSES = new Set([200, 400, 404, 405, 413, 415, 429]);

/** Where a target sends its inputs: the gRPC listener (`host:port`) and the HTTP base URL of a running service. */
export interface FuzzEndpoints {
  readonly grpcTarget: string;
  readonly httpUrl: string;
}

export interface TargetRun {
  readonly seed: number;
  readonly numRuns: number;
}

const text = fc.string({ unit: "binary", maxLength: 64 });
const entry = fc.record({ key: fc.oneof(fc.constantFrom("k", "d", ""), text), value: text });
const descriptor = fc.record({
  entries: fc.array(entry, { maxLength: 4 }),
  limit: fc.constant(undefined),
  hitsAddend: fc.option(fc.nat(), { nil: undefined }),
  isNegativeHits: fc.boolean(),
});
const request = fc.record({
  domain: fc.oneof(fc.constant("fuzz"), text),
  descriptors: fc.array(descriptor, { maxLength: 6 }),
  hitsAddend: fc.nat({ max: 5 }),
});
/** A gRPC message: a structured request (values with control characters included), or arbitrary bytes. */
const grpcMessage = fc.oneof(
  request.map((r) => Buffer.from(RateLimitRequest.encode(RateLimitRequest.fromPartial(r)).finish())),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
);

/** One known-answer call: a fresh descriptor value hit twice must say 999,999 then 999,998 remaining. */
async function validGrpc(session: ClientHttp2Session, n: number): Promise<void> {
  for (const remaining of [999_999, 999_998]) {
    const msg = RateLimitRequest.encode(
      RateLimitRequest.fromPartial({ domain: "fuzz", descriptors: [{ entries: [{ key: "k", value: `valid-${n}` }] }] }),
    ).finish();
    const reply = await h2call(session, { body: [frame(msg)], headers: { "grpc-timeout": "5S" } });
    if (grpcStatus(reply) !== 0) throw new Error(`valid call ${n} got grpc-status ${grpcStatus(reply)}`);
    const res = RateLimitResponse.decode(reply.data.subarray(5));
    const got = res.statuses[0]?.limitRemaining;
    if (res.overallCode !== 1 || got !== remaining)
      throw new Error(`valid call ${n}: remaining ${got}, not ${remaining}`);
  }
}

/** gRPC messages (structured and raw) against the real server, interleaved with known-answer calls. */
export async function fuzzGrpcMessages(h: FuzzEndpoints, run: TargetRun): Promise<number> {
  const session = await h2connect(h.grpcTarget);
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(grpcMessage, fc.boolean(), async (msg, compressedFlag) => {
        const reply = await h2call(session, {
          body: [frame(msg, compressedFlag ? 1 : 0)],
          headers: { "grpc-timeout": "5S" },
        });
        const status = grpcStatus(reply);
        if (status === undefined || !HOSTILE_GRPC_STATUSES.has(status)) throw new Error(`grpc-status ${status}`);
        if (++n % VALID_EVERY === 0) await validGrpc(session, n);
      }),
      { seed: run.seed, numRuns: run.numRuns, endOnFailure: true },
    );
    await validGrpc(session, -1);
  } finally {
    session.destroy();
  }
  return n;
}

/** Arbitrary HTTP/2 frames after a valid preface, each on its own connection; then a valid call still works. */
export async function fuzzH2Frames(h: FuzzEndpoints, run: TargetRun): Promise<number> {
  const [host, port] = [h.grpcTarget.split(":")[0] as string, Number(h.grpcTarget.split(":")[1])];
  const frameArb = fc
    .record({
      type: fc.nat({ max: 12 }),
      flags: fc.nat({ max: 255 }),
      stream: fc.oneof(fc.constant(0), fc.constant(1), fc.nat()),
      payload: fc.uint8Array({ maxLength: 64 }),
    })
    .map((f) => rawFrame(f.type, f.flags, f.stream, Buffer.from(f.payload)));
  let n = 0;
  const session = await h2connect(h.grpcTarget);
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 4 }), async (frames) => {
        await new Promise<void>((resolve) => {
          const socket = connectTcp(port, host, () =>
            socket.end(Buffer.concat([PREFACE, rawFrame(4, 0, 0), ...frames])),
          );
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
          setTimeout(() => socket.destroy(), 30).unref();
        });
        if (++n % VALID_EVERY === 0) await validGrpc(session, 1_000_000 + n);
      }),
      { seed: run.seed, numRuns: run.numRuns, endOnFailure: true },
    );
    await validGrpc(session, -2);
  } finally {
    session.destroy();
  }
  return n;
}

/** /json bodies: arbitrary text and mutated requests; never a 5xx, and a known-answer call every VALID_EVERY. */
export async function fuzzJsonBodies(h: FuzzEndpoints, run: TargetRun): Promise<number> {
  const body = fc.oneof(
    fc.string({ unit: "binary", maxLength: 256 }),
    fc.json({ maxDepth: 3 }),
    request.map((r) => JSON.stringify({ ...r, hitsAddend: r.hitsAddend })),
  );
  let n = 0;
  const post = (b: string): Promise<Response> =>
    fetch(`${h.httpUrl}/json`, { method: "POST", body: b, signal: AbortSignal.timeout(5_000) });
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const res = await post(b);
      await res.arrayBuffer();
      if (!HOSTILE_HTTP_STATUSES.has(res.status)) throw new Error(`/json answered ${res.status}`);
      if (++n % VALID_EVERY === 0) {
        const valid = await post(
          JSON.stringify({ domain: "fuzz", descriptors: [{ entries: [{ key: "k", value: `j${n}` }] }] }),
        );
        const answer = (await valid.json()) as { overallCode?: string };
        if (valid.status !== 200 || answer.overallCode !== "OK") throw new Error(`valid /json ${n}: ${valid.status}`);
      }
    }),
    { seed: run.seed, numRuns: run.numRuns, endOnFailure: true },
  );
  return n;
}

/** Rule files through the parser and compiler: a RuleSet or a ConfigError naming the file, nothing else. */
export function fuzzRuleFiles(run: TargetRun): number {
  const scalar = fc.oneof(
    text,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom("second", "minute", "*"),
  );
  const key = fc.constantFrom(
    "domain",
    "descriptors",
    "key",
    "value",
    "rate_limit",
    "unit",
    "requests_per_unit",
    "unlimited",
    "shadow_mode",
    "replaces",
    "name",
    "detailed_metric",
    "x",
  );
  const node: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ maxDepth: 4 }, scalar, fc.array(tie("value"), { maxLength: 3 }), tie("map")),
    map: fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  })).value;
  const file = fc.oneof(
    node.map((v) => JSON.stringify(v)), // JSON is YAML
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.constantFrom(
      "domain: a\n---\ndomain: b\n",
      "a: &x [*x]\n",
      "domain: d\ndescriptors: [{key: k, rate_limit: {unit: second, requests_per_unit: 1}}]\n",
    ),
  );
  let n = 0;
  fc.assert(
    fc.property(file, (t) => {
      n++;
      try {
        compileRuleSet([{ name: "fuzz.yaml", text: t }], { mergeDomainConfig: false });
      } catch (err) {
        if (!(err instanceof ConfigError) || err.file !== "fuzz.yaml") throw err;
      }
    }),
    { seed: run.seed, numRuns: run.numRuns, endOnFailure: true },
  );
  return n;
}
