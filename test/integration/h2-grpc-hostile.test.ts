/**
 * Hostile clients against the node:http2 gRPC server (issue 12): requests that never end, unfinished bytes, floods
 * of unfinished calls, connections that never complete the handshake, oversized header lists, and shutdown with
 * idle connections whose peers never hang up. Each case then proves that a valid call is still answered.
 */
import type { ClientHttp2Session } from "node:http2";
import { connect as connectTcp, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { GrpcMethod } from "../../src/transport/h2grpc/call.js";
import { frameMessage } from "../../src/transport/h2grpc/framing.js";
import { GrpcStatus } from "../../src/transport/h2grpc/protocol.js";
import { DEFAULT_REQUEST_BUDGET, type RequestBudgetLimits } from "../../src/transport/h2grpc/request-budget.js";
import { createH2GrpcServer, type H2GrpcServer } from "../../src/transport/h2grpc/server.js";
import { sendText, startHttpServer } from "../../src/transport/http/server.js";
import { frame, grpcMessage, grpcStatus, h2call, h2connect, PREFACE, rawFrame } from "../helpers/h2-client.js";
import { createLogSink } from "../helpers/log-sink.js";
import { waitFor } from "../helpers/service.js";

const handled: Buffer[] = [];
const METHODS: readonly GrpcMethod[] = [
  {
    path: "/t.T/Echo",
    handle: (message, call) => {
      handled.push(message);
      call.reply(frameMessage(message));
    },
  },
];

const servers: H2GrpcServer[] = [];
const clients: ClientHttp2Session[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
  handled.length = 0;
});

async function start(options: { budget?: Partial<RequestBudgetLimits>; handshakeTimeoutMs?: number } = {}) {
  const { logger } = createLogSink("debug");
  const server = createH2GrpcServer({
    methods: METHODS,
    maxMessageBytes: 64 * 1024,
    maxConnectionAgeMs: 2 ** 31 - 1,
    maxConnectionAgeGraceMs: 2 ** 31 - 1,
    requestBudget: { ...DEFAULT_REQUEST_BUDGET, ...options.budget },
    ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
    log: logger,
  });
  servers.push(server);
  const port = await server.listen({ host: "127.0.0.1", port: 0 });
  const connectClient = async (): Promise<ClientHttp2Session> => {
    const c = await h2connect(`127.0.0.1:${port}`);
    clients.push(c);
    return c;
  };
  return { server, port, connectClient };
}

/** A stream that sends HEADERS and one complete message but never END_STREAM. */
function unfinished(session: ClientHttp2Session, payload: Buffer) {
  return h2call(session, { path: "/t.T/Echo", body: [frame(payload)], end: false });
}

async function echoWorks(session: ClientHttp2Session): Promise<void> {
  const reply = await h2call(session, { path: "/t.T/Echo", body: [frame(Buffer.from("valid"))] });
  expect(grpcStatus(reply)).toBe(GrpcStatus.OK);
  expect(reply.data.subarray(5).toString()).toBe("valid");
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", () => {});
    sockets.push(socket);
  });
}

const closedBy = (socket: Socket): Promise<void> => new Promise((r) => socket.once("close", () => r()));

describe("unfinished requests", () => {
  it("never runs a request whose stream is reset or whose connection closes before END_STREAM", async () => {
    const { connectClient } = await start();
    const attacker = await connectClient();
    for (let i = 0; i < 50; i++) void unfinished(attacker, Buffer.alloc(2048, i));
    const probe = await connectClient();
    await echoWorks(probe); // the 50 streams have reached the server by now (same event loop, earlier bytes)
    attacker.destroy();
    await echoWorks(probe);
    await new Promise((r) => setTimeout(r, 50));
    expect(handled.map((m) => m.toString())).toEqual(["valid", "valid"]);
  });

  it("answers DEADLINE_EXCEEDED to a request not complete within the read timeout", async () => {
    const { connectClient } = await start({ budget: { readTimeoutMs: 200 } });
    const session = await connectClient();
    const reply = await unfinished(session, Buffer.from("never ends"));
    expect(grpcStatus(reply)).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(grpcMessage(reply)).toContain("read timeout");
    await echoWorks(session);
    expect(handled).toHaveLength(1);
  });

  it("sheds the oldest unfinished calls past the process cap, so new valid calls still run", async () => {
    const { server, connectClient } = await start({ budget: { maxCallsTotal: 10 } });
    const attacker = await connectClient();
    const replies = Array.from({ length: 30 }, (_, i) => unfinished(attacker, Buffer.from(`u${i}`)));
    const probe = await connectClient();
    await echoWorks(probe);
    const shed = await Promise.all(replies.slice(0, 20));
    for (const r of shed) expect(grpcStatus(r)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(server).toBeDefined();
    expect(handled.map((m) => m.toString())).toEqual(["valid"]);
  });

  it("answers RESOURCE_EXHAUSTED past the unfinished bytes of one connection; other connections go on", async () => {
    const { connectClient } = await start({ budget: { maxBytesPerConnection: 5_000 } });
    const attacker = await connectClient();
    const first = unfinished(attacker, Buffer.alloc(2_000));
    const second = unfinished(attacker, Buffer.alloc(2_000));
    const third = await unfinished(attacker, Buffer.alloc(2_000));
    expect(grpcStatus(third)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(grpcMessage(third)).toContain("unfinished request bytes");
    await echoWorks(await connectClient());
    attacker.destroy();
    await Promise.all([first, second]);
  });

  it("refuses a header list larger than the advertised 16 KiB", async () => {
    const { connectClient } = await start();
    const session = await connectClient();
    const reply = await h2call(session, {
      path: "/t.T/Echo",
      headers: { "x-big": "a".repeat(20_000) },
      body: [frame(Buffer.from("x"))],
    });
    expect(grpcStatus(reply)).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(grpcMessage(reply)).toContain("header list");
    await echoWorks(session);
    expect(handled.map((m) => m.toString())).toEqual(["valid"]);
  });
});

describe("connections", () => {
  it("closes a connection that does not complete the HTTP/2 handshake in time", async () => {
    const { port, connectClient } = await start({ handshakeTimeoutMs: 200 });
    const silent = await rawConnect(port);
    const prefaceOnly = await rawConnect(port);
    prefaceOnly.write(PREFACE); // the preface but never the SETTINGS frame
    await Promise.all([closedBy(silent), closedBy(prefaceOnly)]);
    await echoWorks(await connectClient());
  });

  it("shutdown closes idle connections at once, whether or not their peers hang up", async () => {
    const { server, port, connectClient } = await start();
    const silent = await Promise.all(Array.from({ length: 20 }, () => rawConnect(port)));
    // Peers that complete the handshake and then ignore everything, GOAWAY included.
    const deaf = await Promise.all(Array.from({ length: 20 }, () => rawConnect(port)));
    for (const s of deaf) s.write(Buffer.concat([PREFACE, rawFrame(4, 0, 0)]));
    const polite = await connectClient();
    await echoWorks(polite);
    const t0 = performance.now();
    await server.close(5_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
    await Promise.all([...silent, ...deaf].map((s) => (s.destroyed ? undefined : closedBy(s))));
  });

  it("caps concurrent connections (net.Server maxConnections)", async () => {
    const { logger } = createLogSink("debug");
    const server = createH2GrpcServer({
      methods: METHODS,
      maxMessageBytes: 1024,
      maxConnectionAgeMs: 2 ** 31 - 1,
      maxConnectionAgeGraceMs: 2 ** 31 - 1,
      maxConnections: 3,
      log: logger,
    });
    servers.push(server);
    const port = await server.listen({ host: "127.0.0.1", port: 0 });
    const held = await Promise.all(Array.from({ length: 3 }, () => rawConnect(port)));
    await waitFor(() => held.every((s) => !s.destroyed), 1_000);
    const extra = await rawConnect(port);
    await closedBy(extra);
    expect(held.every((s) => !s.destroyed)).toBe(true);
  });
});

describe("HTTP/1 listener", () => {
  it("closes a client that dribbles its request headers past the headers timeout", async () => {
    const { logger } = createLogSink("debug");
    const http = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      headersTimeoutMs: 300,
      routes: [{ path: "/ok", help: "", handler: (_req, res) => sendText(res, 200, "ok\n") }],
      log: logger,
    });
    try {
      const slow = await rawConnect(http.port);
      const received: Buffer[] = [];
      slow.on("data", (d: Buffer) => received.push(d));
      slow.write("GET /ok HTTP/1.1\r\nHost: x\r\n");
      const drip = setInterval(() => slow.write("X-Drip: 1\r\n"), 50);
      await closedBy(slow);
      clearInterval(drip);
      expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1\.1 408/);
      expect((await fetch(`http://127.0.0.1:${http.port}/ok`)).status).toBe(200);
    } finally {
      await http.close(100);
    }
  });
});
