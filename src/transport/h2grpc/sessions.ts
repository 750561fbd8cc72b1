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
import type { Logger } from "pino";

/** Largest HTTP/2 stream id: "every stream may still complete" in the first GOAWAY. */
const MAX_STREAM_ID = 2 ** 31 - 1;
/** How long the first GOAWAY's PING may go unanswered before the final GOAWAY: at max age, and at shutdown. */
const AGE_PING_WAIT_MS = 1_000;
const SHUTDOWN_PING_WAIT_MS = 100;
/** setTimeout's largest delay; an age at or above it means "no maximum". */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionOptions {
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  /** How often each connection is PINGed; one left unanswered until the next round closes the connection. */
  readonly livenessIntervalMs: number;
  readonly log: Logger;
  /** Jitter source, [0, 1). */
  readonly random?: () => number;
}

export interface Sessions {
  /** Starts tracking a new session (age timer, liveness PINGs). */
  add(session: ServerHttp2Session): void;
  /** Drains every open session (graceful GOAWAY); they close once their calls finish. */
  drainAll(): void;
  /** Cuts every open session at once. */
  destroyAll(): void;
  /** Stops the liveness timer (sessions are left as they are). */
  stop(): void;
  readonly size: number;
}

interface Tracked {
  /** A liveness PING is out and not acknowledged yet. */
  awaitingPing: boolean;
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
  const ageOut = (session: ServerHttp2Session): void => {
    if (options.log.isLevelEnabled("debug")) options.log.debug("gRPC connection reached its maximum age; draining");
    drainSession(session, AGE_PING_WAIT_MS);
    const grace = setTimeout(() => session.destroy(), Math.min(MAX_TIMER_MS, options.maxConnectionAgeGraceMs));
    grace.unref();
    session.once("close", () => clearTimeout(grace));
  };
  const checkLiveness = (): void => {
    for (const [session, tracked] of open) {
      if (tracked.awaitingPing) {
        if (options.log.isLevelEnabled("debug")) options.log.debug("gRPC connection stopped answering PINGs; closing");
        session.destroy();
        continue;
      }
      tracked.awaitingPing = true;
      try {
        const answered = (): void => {
          tracked.awaitingPing = false;
        };
        if (!session.ping(answered)) session.destroy();
      } catch {
        session.destroy();
      }
    }
  };
  const stopLiveness = (): void => {
    if (liveness !== undefined) clearInterval(liveness);
    liveness = undefined;
  };
  return {
    add(session) {
      open.set(session, { awaitingPing: false });
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
        open.delete(session);
        if (age !== undefined) clearTimeout(age);
        if (open.size === 0) stopLiveness();
      });
    },
    drainAll() {
      for (const session of open.keys()) drainSession(session, SHUTDOWN_PING_WAIT_MS);
    },
    destroyAll() {
      for (const session of open.keys()) session.destroy();
    },
    stop: stopLiveness,
    get size() {
      return open.size;
    },
  };
}

/** Graceful GOAWAY in two steps (see the file comment). Safe to call more than once and on a dying session. */
function drainSession(session: ServerHttp2Session, pingWaitMs: number): void {
  if (session.closed || session.destroyed) return;
  let done = false;
  const finalGoaway = (): void => {
    if (done) return;
    done = true;
    clearTimeout(wait);
    if (!session.closed && !session.destroyed) session.close();
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
