/**
 * The HTTP/2 connections (sessions) of one server: tracked from accept to close, aged out with
 * GRPC_MAX_CONNECTION_AGE (±10 % jitter, as grpc-go and grpc-js do, so a fleet of clients does not reconnect in
 * lockstep) and drained gracefully, at that age or at shutdown.
 *
 * Draining follows the two-step GOAWAY the gRPC servers use: first GOAWAY with the largest stream id (no call is
 * refused, the client just stops opening streams here) and a PING; once the PING is answered every stream the client
 * sent before the GOAWAY has arrived, and the final GOAWAY (node's session.close()) names the real last stream. The
 * session then closes as soon as its calls are done. A client that does not answer the PING in time gets the final
 * GOAWAY anyway: node:http2 clients (so grpc-js) never do, they stop opening streams at the first GOAWAY and wait for
 * the server to close. At shutdown the wait is short; a stream that crosses the final GOAWAY is refused unprocessed,
 * which gRPC clients retry on a new connection.
 */
import { constants, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { Logger } from "pino";

/** Largest HTTP/2 stream id: "every stream may still complete" in the first GOAWAY. */
const MAX_STREAM_ID = 2 ** 31 - 1;
/** How long the first GOAWAY's PING may go unanswered before the final GOAWAY: at max age, and at shutdown. */
const AGE_PING_WAIT_MS = 1_000;
const SHUTDOWN_PING_WAIT_MS = 100;
/** How often shutdown looks for drained connections whose peer has not hung up yet. */
const SHUTDOWN_SWEEP_MS = 25;
/** setTimeout's largest delay; an age at or above it means "no maximum". */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionOptions {
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  /** How often each connection is PINGed; one left unanswered until the next round closes the connection. */
  readonly livenessIntervalMs: number;
  /** A connection whose client has not sent the HTTP/2 preface and SETTINGS this long after accept is closed. */
  readonly handshakeTimeoutMs: number;
  /**
   * Calls of `session` not answered yet (the request budget's ledger counts them). Shutdown cuts a connection once it
   * has none and its answers have left: counting them where calls start and end costs nothing per stream, where a
   * 'close' listener on every stream cost about 4 % of W1's CPU.
   */
  readonly callsInFlight: (session: ServerHttp2Session) => number;
  readonly log: Logger;
  /** Jitter source, [0, 1). */
  readonly random?: () => number;
}

export interface Sessions {
  /** Starts tracking a new session (age timer, liveness PINGs). */
  add(session: ServerHttp2Session): void;
  /**
   * The raw socket of the session added last. node:http2 hides it behind a proxy that cannot be destroyed, and a
   * session it closed gracefully waits for the peer to hang up; shutdown must not wait for that.
   */
  attachSocket(socket: Socket): void;

  /**
   * Shutdown: drains every connection (graceful GOAWAY) and closes each as soon as it has no call left, whether or
   * not the peer hangs up; connections that never completed the handshake are closed after a short wait. `quiet`
   * runs once no connection has a call left.
   */
  drainAll(quiet: () => void): void;
  /** Cuts every open session at once. */
  destroyAll(): void;
  /** Stops the liveness timer (sessions are left as they are). */
  stop(): void;
  readonly size: number;
}

interface Tracked {
  /** A liveness PING is out and not acknowledged yet. */
  awaitingPing: boolean;
  /** The client's SETTINGS arrived (the HTTP/2 handshake is complete). */
  settled: boolean;
  socket: Socket | undefined;
  /** Shutdown sent the first GOAWAY. */
  draining: boolean;
  /** Shutdown sent the final GOAWAY: the connection is cut once it is idle (no call in flight, answers sent). */
  finalSent: boolean;
}

/**
 * Creates the session registry. The liveness PINGs exist because node:http2 leaves a connection open after nghttp2
 * has ended it for a protocol error (it sends GOAWAY and then reads nothing more, waiting for the peer to hang up):
 * such a connection, a peer that vanished without a FIN, or one that never sent the preface, stops answering PINGs
 * and is closed within two intervals. Live peers answer PINGs automatically at the HTTP/2 layer.
 */
export function createSessions(options: SessionOptions): Sessions {
  const open = new Map<ServerHttp2Session, Tracked>();
  const random = options.random ?? Math.random;
  let liveness: NodeJS.Timeout | undefined;
  let shutdownSweep: NodeJS.Timeout | undefined;
  let lastAdded: Tracked | undefined;
  const cut = (session: ServerHttp2Session, tracked: Tracked | undefined): void => {
    // Neither session.destroy() nor socket.destroy() closes a socket whose handle nghttp2 has consumed (and after
    // them a reset is a no-op); a reset first does.
    const socket = tracked?.socket;
    if (socket !== undefined && !socket.destroyed) {
      try {
        socket.resetAndDestroy();
      } catch {
        socket.destroy(); // a TLS socket: not a TCP handle, and not consumed by nghttp2 either
      }
    }
    session.destroy();
  };
  /** No call in flight on the connection, and everything it answered has left node:http2 and the socket. */
  const idle = (session: ServerHttp2Session, tracked: Tracked): boolean => {
    if (options.callsInFlight(session) > 0) return false;
    if (session.destroyed) return true;
    return session.state.outboundQueueSize === 0 && (tracked.socket?.writableLength ?? 0) === 0;
  };
  let onQuiet: (() => void) | undefined;
  let drainStartedAt = 0;
  /**
   * Shutdown does not close() sessions: node would then wait for the peer to hang up, forever for a peer that
   * ignores GOAWAY. A connection is quiet once its final GOAWAY is out and its last stream has closed, or when it
   * has not completed the handshake within the short shutdown wait. Once every connection is quiet, `onQuiet` runs
   * (nothing is in flight any more, so the process may exit and let the kernel close them all at once) and then
   * the quiet connections are cut.
   */
  const sweepDrained = (): void => {
    const graceOver = performance.now() - drainStartedAt >= SHUTDOWN_PING_WAIT_MS;
    const quiet: [ServerHttp2Session, Tracked][] = [];
    for (const entry of open) {
      const tracked = entry[1];
      if ((tracked.finalSent && idle(entry[0], tracked)) || (!tracked.settled && graceOver)) quiet.push(entry);
      else if (tracked.settled && !tracked.finalSent && !tracked.draining) drainForShutdown(entry[0], tracked);
    }
    if (quiet.length === open.size && onQuiet !== undefined) {
      const notify = onQuiet;
      onQuiet = undefined;
      notify();
    }
    if (quiet.length > 0)
      setImmediate(() => {
        for (const [session, tracked] of quiet) cut(session, tracked);
      });
  };
  const drainForShutdown = (session: ServerHttp2Session, tracked: Tracked): void => {
    tracked.draining = true;
    drainSession(session, SHUTDOWN_PING_WAIT_MS, () => {
      tracked.finalSent = true;
      // Nothing in flight: reset now rather than send the final GOAWAY. After that GOAWAY nghttp2 may end the session
      // by itself, and a socket node:http2 destroyed that way is never closed (see `cut`), so a peer that ignores
      // GOAWAY would stay connected.
      if (idle(session, tracked)) {
        cut(session, tracked);
        return;
      }
      try {
        if (!session.destroyed) session.goaway(constants.NGHTTP2_NO_ERROR, session.state.lastProcStreamID ?? 0);
      } catch {
        // already going away
      }
    });
  };
  const ageOut = (session: ServerHttp2Session): void => {
    if (options.log.isLevelEnabled("debug")) options.log.debug("gRPC connection reached its maximum age; draining");
    drainSession(session, AGE_PING_WAIT_MS, () => {
      if (!session.closed && !session.destroyed) session.close();
    });
    const grace = setTimeout(() => session.destroy(), Math.min(MAX_TIMER_MS, options.maxConnectionAgeGraceMs));
    grace.unref();
    session.once("close", () => clearTimeout(grace));
  };
  const checkLiveness = (): void => {
    for (const [session, tracked] of open) {
      if (tracked.awaitingPing) {
        if (options.log.isLevelEnabled("debug")) options.log.debug("gRPC connection stopped answering PINGs; closing");
        cut(session, tracked);
        continue;
      }
      tracked.awaitingPing = true;
      try {
        const answered = (): void => {
          tracked.awaitingPing = false;
        };
        if (!session.ping(answered)) cut(session, tracked);
      } catch {
        cut(session, tracked);
      }
    }
  };
  const stopLiveness = (): void => {
    if (liveness !== undefined) clearInterval(liveness);
    liveness = undefined;
  };
  return {
    add(session) {
      const tracked: Tracked = {
        awaitingPing: false,
        settled: false,
        socket: undefined,
        draining: false,
        finalSent: false,
      };
      open.set(session, tracked);
      lastAdded = tracked;
      const handshake = setTimeout(() => {
        if (options.log.isLevelEnabled("debug")) options.log.debug("HTTP/2 handshake not completed in time; closing");
        cut(session, tracked);
      }, options.handshakeTimeoutMs);
      handshake.unref();
      session.once("remoteSettings", () => {
        tracked.settled = true;
        clearTimeout(handshake);
      });
      if (liveness === undefined) {
        liveness = setInterval(checkLiveness, options.livenessIntervalMs);
        liveness.unref();
      }
      let age: NodeJS.Timeout | undefined;
      if (options.maxConnectionAgeMs < MAX_TIMER_MS) {
        const jittered = options.maxConnectionAgeMs * (0.9 + 0.2 * random());
        age = setTimeout(ageOut, Math.min(MAX_TIMER_MS, Math.round(jittered)), session);
        age.unref();
      }
      session.once("close", () => {
        clearTimeout(handshake);
        open.delete(session);
        if (age !== undefined) clearTimeout(age);
        if (open.size === 0) stopLiveness();
      });
    },
    attachSocket(socket) {
      if (lastAdded !== undefined && lastAdded.socket === undefined) lastAdded.socket = socket;
      lastAdded = undefined;
    },
    drainAll(quiet) {
      onQuiet = quiet;
      drainStartedAt = performance.now();
      // Sessions without SETTINGS yet get the short wait (a client that has just connected may have its bytes in
      // flight; the sweep drains it if they arrive); one that is not speaking HTTP/2 is then cut.
      for (const [session, tracked] of open) if (tracked.settled) drainForShutdown(session, tracked);
      shutdownSweep ??= setInterval(sweepDrained, SHUTDOWN_SWEEP_MS);
      shutdownSweep.unref();
    },
    destroyAll() {
      for (const [session, tracked] of open) cut(session, tracked);
    },
    stop() {
      stopLiveness();
      if (shutdownSweep !== undefined) clearInterval(shutdownSweep);
      shutdownSweep = undefined;
    },
    get size() {
      return open.size;
    },
  };
}

/** Graceful GOAWAY in two steps (see the file comment). Safe to call more than once and on a dying session. */
function drainSession(session: ServerHttp2Session, pingWaitMs: number, sendFinal: () => void): void {
  if (session.closed || session.destroyed) {
    sendFinal();
    return;
  }
  let done = false;
  const finalGoaway = (): void => {
    if (done) return;
    done = true;
    clearTimeout(wait);
    sendFinal();
  };
  const wait = setTimeout(finalGoaway, pingWaitMs);
  wait.unref();
  try {
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    if (!session.ping(finalGoaway)) finalGoaway();
  } catch {
    finalGoaway(); // the session is going away by itself; close() is a no-op then
  }
}
