/**
 * The node:http2 gRPC server (src/transport/h2grpc) with small test methods, for what needs control over the
 * method: server streaming, a method that throws, deadlines on slow methods, client cancels, the liveness PINGs,
 * graceful shutdown (idle connections, in-flight calls, the deadline) and GRPC_MAX_CONNECTION_AGE with its grace.
 */
import { type ClientHttp2Session, constants } from "node:http2";
import { connect as connectTcp } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { GrpcMethod } from "../../src/transport/h2grpc/call.js";
import { frameMessage } from "../../src/transport/h2grpc/framing.js";
import { GrpcStatus } from "../../src/transport/h2grpc/protocol.js";
import { createH2GrpcServer, type H2GrpcServer } from "../../src/transport/h2grpc/server.js";
import {
  frame,
  GOAWAY,
  grpcMessage,
  grpcStatus,
  h2call,
  h2connect,
  PREFACE,
  rawFrame,
  sendRaw,
} from "../helpers/h2-client.js";
import { createLogSink, type LogLine } from "../helpers/log-sink.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What /t.T/Header saw of its x-probe request header: while handling, then once answered. */
const headerSeen: (string | undefined)[] = [];

const METHODS: readonly GrpcMethod[] = [
  { path: "/t.T/Echo", handle: (message, call) => call.reply(frameMessage(message)) },
  {
    path: "/t.T/Header",
    handle: (message, call) => {
      headerSeen.push(call.header("x-probe"));
      call.reply(frameMessage(message));
      headerSeen.push(call.header("x-probe"));
    },
  },
  { path: "/t.T/Slow", handle: (message, call) => void sleep(200).then(() => call.reply(frameMessage(message))) },
  { path: "/t.T/Never", handle: () => {} },
  {
    path: "/t.T/Throws",
    handle: () => {
      throw new TypeError("handler bug");
    },
  },
  {
    path: "/t.T/Ticks",
    handle: (message, call) => {
      for (let i = 0; i < 3; i++) call.write(frameMessage(Buffer.concat([message, Buffer.from([i])])));
      call.end();
    },
  },
  {
    path: "/t.T/StreamFail",
    handle: (message, call) => {
      call.write(frameMessage(message));
      call.fail(GrpcStatus.ABORTED, "stopped after one");
    },
  },
];

interface Running {
  readonly server: H2GrpcServer;
  readonly authority: string;
  readonly port: number;
  readonly logs: LogLine[];
}

const servers: H2GrpcServer[] = [];
const clients: ClientHttp2Session[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

async function start(options: { maxConnectionAgeMs?: number; graceMs?: number; livenessMs?: number } = {}) {
  const { logger, lines } = createLogSink("debug");
  const server = createH2GrpcServer({
    methods: METHODS,
    maxMessageBytes: 1024,
    maxConnectionAgeMs: options.maxConnectionAgeMs ?? 2 ** 31 - 1,
    maxConnectionAgeGraceMs: options.graceMs ?? 2 ** 31 - 1,
    livenessIntervalMs: options.livenessMs ?? 60_000,
    log: logger,
  });
  servers.push(server);
  const port = await server.listen({ host: "127.0.0.1", port: 0 });
  return { server, port, authority: `127.0.0.1:${port}`, logs: lines } satisfies Running;
}

async function client(authority: string): Promise<ClientHttp2Session> {
  const c = await h2connect(authority);
  clients.push(c);
  return c;
}

const errors = (logs: LogLine[]) => logs.filter((l) => l.level >= 50);
const closed = (c: ClientHttp2Session) => new Promise<void>((r) => (c.destroyed ? r() : c.once("close", () => r())));

describe("methods", () => {
  it("serves many concurrent unary calls on one connection", async () => {
    const s = await start();
    const c = await client(s.authority);
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => h2call(c, { path: "/t.T/Echo", body: [frame(Buffer.from([i & 0xff]))] })),
    );
    expect(replies.map((r) => [grpcStatus(r), r.data[5]])).toEqual(replies.map((_, i) => [0, i & 0xff]));
  });

  it("streams messages, then OK trailers", async () => {
    const s = await start();
    const reply = await h2call(await client(s.authority), { path: "/t.T/Ticks", body: [frame(Buffer.from("x"))] });
    expect(reply.data).toEqual(Buffer.concat([0, 1, 2].map((i) => frame(Buffer.from([0x78, i])))));
    expect(reply.trailers?.["grpc-status"]).toBe("0");
  });

  it("ends a stream that already sent messages with its status in the trailers, not trailers-only", async () => {
    const s = await start();
    const reply = await h2call(await client(s.authority), { path: "/t.T/StreamFail", body: [frame(Buffer.from("y"))] });
    expect(reply.headers["grpc-status"]).toBeUndefined();
    expect(reply.data).toEqual(frame(Buffer.from("y")));
    expect(reply.trailers?.["grpc-status"]).toBe(String(GrpcStatus.ABORTED));
    expect(grpcMessage(reply)).toBe("stopped after one");
  });

  it("reads request headers while handling and lets go of them once answered", async () => {
    // The call lives as long as its stream; kept headers went to old space with every call (BENCHMARKS.md).
    const s = await start();
    headerSeen.length = 0;
    const reply = await h2call(await client(s.authority), {
      path: "/t.T/Header",
      headers: { "x-probe": "p1" },
      body: [frame(Buffer.from("h"))],
    });
    expect(grpcStatus(reply)).toBe(0);
    expect(headerSeen).toEqual(["p1", undefined]);
  });

  it("answers a method that throws with INTERNAL and logs it at error", async () => {
    const s = await start();
    const reply = await h2call(await client(s.authority), { path: "/t.T/Throws", body: [frame(Buffer.alloc(0))] });
    expect(grpcStatus(reply)).toBe(GrpcStatus.INTERNAL);
    expect(grpcMessage(reply)).toBe("internal error");
    expect(errors(s.logs)).toEqual([expect.objectContaining({ msg: "gRPC method threw", method: "/t.T/Throws" })]);
  });
});

describe("deadlines and cancels", () => {
  it("answers DEADLINE_EXCEEDED when the method is too slow, and drops its late answer", async () => {
    const s = await start();
    const c = await client(s.authority);
    const t0 = performance.now();
    const reply = await h2call(c, {
      path: "/t.T/Slow",
      headers: { "grpc-timeout": "50m" },
      body: [frame(Buffer.alloc(1))],
    });
    expect(grpcStatus(reply)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(performance.now() - t0).toBeLessThan(180);
    await sleep(250);
    expect(errors(s.logs)).toEqual([]);
    expect(grpcStatus(await h2call(c, { path: "/t.T/Echo", body: [frame(Buffer.alloc(1))] }))).toBe(0);
  });

  it("drops the answer of a call the client cancelled", async () => {
    const s = await start();
    const c = await client(s.authority);
    const req = c.request({ ":method": "POST", ":path": "/t.T/Slow", "content-type": "application/grpc" });
    req.on("error", () => {});
    req.end(frame(Buffer.alloc(1)));
    await sleep(20);
    req.close(constants.NGHTTP2_CANCEL);
    await sleep(250);
    expect(errors(s.logs)).toEqual([]);
    expect(grpcStatus(await h2call(c, { path: "/t.T/Echo", body: [frame(Buffer.alloc(1))] }))).toBe(0);
  });
});

describe("liveness PINGs", () => {
  it("close a connection that nghttp2 ended for a protocol error", async () => {
    const s = await start({ livenessMs: 100 });
    const bad = Buffer.concat([PREFACE, rawFrame(4, 0, 0), rawFrame(0, 0, 0, Buffer.from([1]))]);
    const t0 = performance.now();
    const { received, closed: wasClosed } = await sendRaw(s.port, bad, { timeoutMs: 2_000 });
    expect(wasClosed).toBe(true);
    expect(received.includes(Buffer.from([GOAWAY]))).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it("close a connection that never sends the preface", async () => {
    const s = await start({ livenessMs: 100 });
    const { closed: wasClosed } = await sendRaw(s.port, Buffer.alloc(0), { timeoutMs: 2_000 });
    expect(wasClosed).toBe(true);
  });

  it("keep an idle live client connected", async () => {
    const s = await start({ livenessMs: 50 });
    const c = await client(s.authority);
    await sleep(400);
    expect(c.closed || c.destroyed).toBe(false);
    expect(grpcStatus(await h2call(c, { path: "/t.T/Echo", body: [frame(Buffer.alloc(1))] }))).toBe(0);
  });
});

describe("close()", () => {
  it("is not held by idle connections, which get a GOAWAY", async () => {
    const s = await start();
    const idle = await client(s.authority);
    const goaway = new Promise<number>((r) => idle.once("goaway", (code) => r(code)));
    const t0 = performance.now();
    await s.server.close(5_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await goaway).toBe(constants.NGHTTP2_NO_ERROR);
    await closed(idle);
  });

  it("lets an in-flight call finish, then resolves; new connections are refused", async () => {
    const s = await start();
    const c = await client(s.authority);
    const call = h2call(c, { path: "/t.T/Slow", body: [frame(Buffer.from("done"))] });
    await sleep(30);
    const t0 = performance.now();
    await s.server.close(5_000);
    const elapsed = performance.now() - t0;
    const reply = await call;
    expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
    expect(reply.data).toEqual(frame(Buffer.from("done")));
    expect(elapsed).toBeGreaterThan(100);
    expect(elapsed).toBeLessThan(1_500);
    const refused = await new Promise<string>((r) => {
      const socket = connectTcp(s.port, "127.0.0.1");
      socket.on("error", (e: NodeJS.ErrnoException) => r(e.code ?? ""));
      socket.on("connect", () => r("connected"));
    });
    expect(refused).toBe("ECONNREFUSED");
  });

  it("cuts calls still running at the deadline", async () => {
    const s = await start();
    const c = await client(s.authority);
    const call = h2call(c, { path: "/t.T/Never", body: [frame(Buffer.alloc(1))] });
    await sleep(20);
    const t0 = performance.now();
    await s.server.close(300);
    expect(performance.now() - t0).toBeGreaterThan(250);
    const reply = await call;
    expect(grpcStatus(reply)).toBeUndefined();
    expect(s.logs).toContainEqual(
      expect.objectContaining({ msg: "gRPC calls still running at the shutdown deadline" }),
    );
  });
});

describe("maximum connection age", () => {
  it("sends GOAWAY at the age (±10 %), lets the in-flight call finish, then the connection closes", async () => {
    const s = await start({ maxConnectionAgeMs: 300, graceMs: 5_000 });
    const c = await client(s.authority);
    const t0 = performance.now();
    const goaway = new Promise<number>((r) => c.once("goaway", () => r(performance.now() - t0)));
    await sleep(200);
    const call = h2call(c, { path: "/t.T/Slow", body: [frame(Buffer.from("aged"))] });
    const at = await goaway;
    expect(at).toBeGreaterThan(260);
    expect(at).toBeLessThan(400);
    expect(grpcStatus(await call)).toBe(GrpcStatus.OK);
    await closed(c);
    expect(performance.now() - t0).toBeLessThan(2_500);
  });

  it("cuts the connection after the grace when a call is still running", async () => {
    const s = await start({ maxConnectionAgeMs: 100, graceMs: 200 });
    const c = await client(s.authority);
    const t0 = performance.now();
    const call = h2call(c, { path: "/t.T/Never", body: [frame(Buffer.alloc(1))] });
    await closed(c);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThan(250);
    expect(elapsed).toBeLessThan(1_000);
    expect(grpcStatus(await call)).toBeUndefined();
  });
});
