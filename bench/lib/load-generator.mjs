/**
 * gRPC load generator. Closed loop by default: keeps `inFlight` unary calls outstanding over `connections` raw HTTP/2
 * connections (h2-connection.mjs). With `rate`, open loop: starts `rate` calls per second whatever the answers do, with
 * up to `inFlight` outstanding; a call that had to wait for a free slot counts its latency from when it was due, so a
 * stalled server shows in the figures instead of slowing the load (coordinated omission). Both modes cycle through
 * pre-encoded request frames (one per key), and verify EVERY response: `:status 200`, `grpc-status: 0` in the trailers, a well-formed response message, the expected
 * `overall_code` for that key and the expected number of descriptor statuses. Header blocks are checked by byte
 * comparison; each distinct trailer block is decoded once by the HPACK oracle.
 */
import { createHistogram, performance } from "node:perf_hooks";
import { CODE, SHOULD_RATE_LIMIT_PATH, scanResponseFrame } from "./grpc-wire.mjs";
import { openConnection } from "./h2-connection.mjs";
import { stripTableSizeUpdates } from "./h2-frames.mjs";
import { createHpackOracle } from "./hpack-oracle.mjs";

/** What a response to frame i must say. */
export const EXPECT = Object.freeze({
  /** Every response is OK. */
  OK: 0,
  /** The key is over its limit: at most `allowOk` OK answers for this frame in the whole run, the rest OVER_LIMIT. */
  OVER: 1,
});

/** Indexed `:status: 200` (RFC 7541 static table entry 8). */
const STATUS_200 = 0x88;

/**
 * @typedef {object} LoadOptions
 * @property {number} port gRPC port on 127.0.0.1
 * @property {readonly Buffer[]} frames pre-encoded gRPC request frames
 * @property {Uint8Array} expect EXPECT value per frame
 * @property {number} allowOk OK answers tolerated per EXPECT.OVER frame (window boundaries)
 * @property {number} statuses expected DescriptorStatus count per response, or -1 to skip the check
 * @property {number} connections HTTP/2 connections
 * @property {number} inFlight outstanding calls in total (with `rate`: at most)
 * @property {number} [rate] open loop: calls started per second
 * @property {number} [slowMs] keep the completion time (performance.now()) and latency of recorded calls slower than this
 * @property {{ ca: Buffer, cert: Buffer, key: Buffer }} [tls] connect over TLS (ALPN h2) with this client certificate
 * @property {number} [startAt] the first frame to send (default: a random one)
 */

/**
 * One slice of load: `requests` completed between the slice's start and the moment it stopped issuing calls.
 * @typedef {{ requests: number, seconds: number, rps: number, genCpuPct: number }} Slice
 */

/**
 * Opens the connections to one server. `runSlice(ms)` then keeps `inFlight` calls outstanding for `ms`, stops
 * issuing, and waits until every call has answered, so slices of different servers can alternate with no overlap.
 * Latencies of recorded slices accumulate in one histogram; every response of every slice is verified.
 */
export async function createLoadRunner(/** @type {LoadOptions} */ opts) {
  const oracle = await createHpackOracle();
  const state = createState(opts, oracle);
  const onDone = (call) => complete(state, call);
  const conns = await Promise.all(
    Array.from({ length: opts.connections }, () => openConnection(opts.port, SHOULD_RATE_LIMIT_PATH, onDone, opts.tls)),
  );
  const calls = Array.from({ length: opts.inFlight }, (_, i) => ({
    conn: conns[i % conns.length],
    streamId: 0,
    index: 0,
    start: 0,
    chunks: [],
  }));
  return {
    /**
     * @param {number} ms
     * @param {{ record?: boolean, onStart?: () => Promise<void> | void, onStop?: () => Promise<void> | void }} [hooks]
     * @returns {Promise<Slice>}
     */
    async runSlice(ms, hooks = {}) {
      state.stopping = false;
      state.recording = hooks.record ?? true;
      state.completedInWindow = 0;
      await hooks.onStart?.();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      state.lastCompletion = t0;
      const pacer = opts.rate === undefined ? undefined : startPacer(state, calls, opts.rate, t0);
      if (pacer === undefined) for (const call of calls) next(state, call);
      try {
        await phase(state, ms);
      } finally {
        state.stopping = true;
        pacer?.stop();
      }
      const seconds = (performance.now() - t0) / 1000;
      const requests = state.completedInWindow;
      state.recording = false;
      const cpu = process.cpuUsage(cpu0);
      await hooks.onStop?.();
      await drain(state, 5000);
      if (state.outstanding > 0) throw new Error(`${state.outstanding} calls still unanswered 5 s after the slice`);
      return { requests, seconds, rps: requests / seconds, genCpuPct: ((cpu.user + cpu.system) / 1e6 / seconds) * 100 };
    },
    /** Latency and verification figures over all slices so far (waits for pending trailer decodes). */
    async totals() {
      await Promise.all(state.decoding);
      return summarize(state);
    },
    async close() {
      state.stopping = true;
      for (const c of conns) c.close();
      await oracle.close();
    },
  };
}

function createState(opts, oracle) {
  return {
    opts,
    oracle,
    cursor: opts.startAt ?? Math.floor(Math.random() * opts.frames.length),
    okPerFrame: new Uint32Array(opts.frames.length),
    /** Trailer blocks already known to say grpc-status 0. */
    goodTrailers: /** @type {Buffer[]} */ ([]),
    /** hex of a trailer block → what it decoded to (pending: count of responses waiting for the decode). */
    blocks: new Map(),
    decoding: /** @type {Promise<void>[]} */ ([]),
    recording: false,
    stopping: true,
    /** Open loop only: the pacer that owns free call slots. */
    pacer: undefined,
    outstanding: 0,
    completedInWindow: 0,
    completedTotal: 0,
    lastCompletion: performance.now(),
    ok: 0,
    over: 0,
    errors: 0,
    wrongDecisions: 0,
    problems: /** @type {string[]} */ ([]),
    histogram: createHistogram(),
    slowMs: opts.slowMs ?? Number.POSITIVE_INFINITY,
    /** [completed at, latency ms] of recorded calls slower than slowMs. */
    slow: /** @type {[number, number][]} */ ([]),
  };
}

function next(state, call) {
  if (state.pacer !== undefined) {
    state.pacer.release(call);
    return;
  }
  send(state, call, performance.now());
}

function send(state, call, start) {
  if (state.stopping || call.conn.dead !== undefined) return;
  const index = state.cursor;
  state.cursor = index + 1 === state.opts.frames.length ? 0 : index + 1;
  call.index = index;
  call.start = start;
  state.outstanding++;
  if (!call.conn.start(call, state.opts.frames[index])) state.outstanding--;
}

/**
 * Open loop: every millisecond, starts the calls due since the slice began (`rate` per second) on free slots. Calls
 * due while every slot was busy start as slots free up, timed from when they were due.
 */
function startPacer(state, calls, rate, t0) {
  const free = [...calls];
  let sent = 0;
  const due = (now) => Math.floor(((now - t0) * rate) / 1000);
  const pacer = {
    release(call) {
      const now = performance.now();
      if (sent < due(now) && !state.stopping) {
        send(state, call, t0 + (sent * 1000) / rate); // overdue: it waited for this slot
        sent++;
      } else free.push(call);
    },
    stop() {
      clearInterval(timer);
      state.pacer = undefined;
    },
  };
  const timer = setInterval(() => {
    const now = performance.now();
    for (let target = due(now); sent < target && free.length > 0; sent++) send(state, free.pop(), now);
  }, 1);
  state.pacer = pacer;
  return pacer;
}

/** Remembers the first few problems so a failed run says what went wrong. */
function note(state, message) {
  if (state.problems.length < 8 && !state.problems.includes(message)) state.problems.push(message);
}

function complete(state, call) {
  state.outstanding--;
  const now = performance.now();
  state.lastCompletion = now;
  state.completedTotal++;
  if (!state.stopping) {
    state.completedInWindow++;
    if (state.recording) {
      state.histogram.record(Math.max(1, Math.round((now - call.start) * 1000)));
      if (now - call.start > state.slowMs) state.slow.push([now, now - call.start]);
    }
  }
  if (verifyTransport(state, call)) verifyDecision(state, call);
  next(state, call);
}

/** Checks the HTTP/2 and gRPC envelope; true when the message itself should be checked. */
function verifyTransport(state, call) {
  if (call.error !== undefined) {
    state.errors++;
    note(state, call.error);
    return false;
  }
  const trailers = call.trailerBlock;
  if (call.headerBlock === undefined || trailers === undefined) {
    // Trailers-only response, gRPC's shape for errors: its block holds `:status`, so it never classifies as good
    // and classifyTrailers counts the error once decoded (with the grpc-status and message it carried).
    if (trailers === undefined) state.errors++;
    else classifyTrailers(state, trailers);
    return false;
  }
  if (stripTableSizeUpdates(call.headerBlock)[0] !== STATUS_200) {
    state.errors++;
    note(state, `response headers without :status 200 (block ${call.headerBlock.toString("hex")})`);
    return false;
  }
  for (const good of state.goodTrailers) if (good.equals(trailers)) return true;
  classifyTrailers(state, trailers);
  return true; // the message is checked now; the trailers' verdict is added when decoded
}

/** Decodes an unseen trailer block once; counts every response carrying a bad one as an error. */
function classifyTrailers(state, block) {
  const hex = block.toString("hex");
  const known = state.blocks.get(hex);
  if (known !== undefined) {
    if (known.decoded === undefined) known.pending++;
    else if (!known.good) state.errors++;
    return;
  }
  const entry = { decoded: undefined, good: false, pending: 1 };
  state.blocks.set(hex, entry);
  const copy = Buffer.from(block);
  state.decoding.push(
    state.oracle.decode(copy).then((fields) => {
      entry.decoded = fields;
      entry.good = fields["grpc-status"] === "0" && fields[":status"] === undefined; // trailers, not headers
      if (entry.good) state.goodTrailers.push(copy);
      else {
        state.errors += entry.pending;
        note(state, `grpc error: ${JSON.stringify(fields)}`);
      }
    }),
  );
}

function verifyDecision(state, call) {
  const body = call.chunks.length === 1 ? call.chunks[0] : Buffer.concat(call.chunks);
  const { code, statuses } = scanResponseFrame(body);
  if (code === CODE.OK) state.ok++;
  else if (code === CODE.OVER_LIMIT) state.over++;
  if (!decisionIsExpected(state, call.index, code, statuses)) {
    state.wrongDecisions++;
    note(state, `frame ${call.index}: overall_code ${code} with ${statuses} statuses`);
  }
}

function decisionIsExpected(state, index, code, statuses) {
  const { opts } = state;
  if (opts.statuses >= 0 && statuses !== opts.statuses) return false;
  if (opts.expect[index] === EXPECT.OK) return code === CODE.OK;
  if (code === CODE.OK) {
    state.okPerFrame[index]++;
    return (state.okPerFrame[index] ?? 0) <= opts.allowOk;
  }
  return code === CODE.OVER_LIMIT;
}

/** Waits `ms`, failing early when the server stops answering (no completion for 5 s). */
function phase(state, ms) {
  return new Promise((resolve, reject) => {
    const end = performance.now() + ms;
    const timer = setInterval(
      () => {
        const now = performance.now();
        // (Open loop may have nothing outstanding between calls; a dead connection then shows as no completions.)
        if ((state.outstanding === 0 && state.pacer === undefined) || now - state.lastCompletion > 5000) {
          clearInterval(timer);
          state.stopping = true;
          const why = state.outstanding === 0 ? "every connection failed" : "server stopped answering";
          reject(new Error(`${why}: ${state.problems.join("; ") || `${state.outstanding} calls outstanding`}`));
        } else if (now >= end) {
          clearInterval(timer);
          resolve();
        }
      },
      Math.min(50, ms),
    );
  });
}

async function drain(state, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  while (state.outstanding > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

function summarize(state) {
  const h = state.histogram;
  const n = h.count;
  return {
    latencySamples: n,
    p50Us: n ? h.percentile(50) : Number.NaN,
    p99Us: n ? h.percentile(99) : Number.NaN,
    maxUs: n ? h.max : Number.NaN,
    ok: state.ok,
    over: state.over,
    errors: state.errors,
    wrongDecisions: state.wrongDecisions,
    problems: state.problems,
    verified: state.completedTotal,
    slow: state.slow,
  };
}
