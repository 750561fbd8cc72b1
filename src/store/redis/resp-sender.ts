/**
 * The hot path on one Redis connection (single and sentinel topologies): a whole flush is written as ONE RESP string
 * and its replies are collected by ONE object, instead of an ioredis Pipeline holding one Command object (with its
 * own promise, argument flattening and string building) per INCRBY.
 *
 * ioredis keeps everything else: connecting, AUTH, SELECT, TLS, Sentinel master discovery and failover, reconnects,
 * the socket timeout and its reply parser. The batch goes through the client's own `sendCommand`, which writes it
 * only while the connection is ready and queues it for its reply; one more queue entry per extra command makes the
 * parser hand every reply, in order, to the same collector (ioredis shifts one queue entry per reply and calls its
 * `resolve` or, for an error reply or a dropped connection, its `reject`). That is the contract of ioredis's
 * `commandQueue` (a public field of the client); `supportsRespBatches()` checks its shape once, and the store falls
 * back to pipelines if a future ioredis changes it.
 */
import { createHash } from "node:crypto";
import type { Command, Redis } from "ioredis";
import type { ScriptCall } from "./limits-script.js";
import { LIMITS_LUA } from "./limits-script.js";
import { REFUND_LUA } from "./refund-script.js";
import type { RawReplies, Sender, WireBatch } from "./wire-batch.js";

/** What ioredis's parser calls for each reply (its `Respondable`), plus what `sendCommand` reads. */
class BatchReplies {
  /** Not a Redis command: ioredis looks names up only in its flag tables, where this one has no flag. */
  readonly name = "sluice-batch";
  /** Never shown: ioredis copies `args` into errors and traces, and keys are request data. */
  readonly args: never[] = [];
  /** Returned by `sendCommand` and tracing; the store listens to `done` instead. */
  readonly promise = SETTLED;
  isTraced = false;
  written = false;
  private received = 0;
  private readonly replies: RawReplies;

  constructor(
    private readonly text: string,
    private readonly count: number,
    private readonly done: (replies: RawReplies) => void,
  ) {
    this.replies = new Array(count);
  }

  toWritable(): string {
    this.written = true;
    return this.text;
  }

  resolve(reply: unknown): void {
    this.take(reply);
  }

  reject(err: Error): void {
    if (this.written) {
      this.take(err);
      return;
    }
    // Refused before anything was written (connection not ready): every command failed.
    this.replies.fill(err);
    this.received = this.count;
    this.done(this.replies);
  }

  private take(reply: unknown): void {
    if (this.received >= this.count) return;
    this.replies[this.received++] = reply;
    if (this.received === this.count) this.done(this.replies);
  }
}

const SETTLED: Promise<void> = Promise.resolve();

/** The queue entry shape of ioredis's commandQueue. */
interface QueueEntry {
  command: BatchReplies;
  stream: undefined;
  select: number;
}

interface ClientInternals {
  readonly commandQueue?: { push(entry: QueueEntry): unknown; readonly length: number };
  readonly condition?: { select?: number } | null;
}

/** True when the client exposes the command queue this sender relies on. */
export function supportsRespBatches(client: Redis): boolean {
  const queue = (client as unknown as ClientInternals).commandQueue;
  return (
    typeof queue?.push === "function" && typeof queue.length === "number" && typeof client.sendCommand === "function"
  );
}

/** A Sender writing each batch as one RESP string through `client`. */
export function createRespSender(client: Redis): Sender {
  const internals = client as unknown as ClientInternals;
  const script = createScriptCache(client);
  return {
    send(batch: WireBatch, done: (replies: RawReplies) => void): void {
      const n = batch.kinds.length;
      const sha = batch.scripts.length > 0 ? script.sha() : undefined;
      const settle =
        batch.scripts.length === 0 ? done : (replies: RawReplies) => done(script.checkReplies(batch, replies));
      const collector = new BatchReplies(encodeBatch(batch, sha), n, settle);
      client.sendCommand(collector as unknown as Command);
      if (!collector.written || n === 1) return;
      const entry: QueueEntry = { command: collector, stream: undefined, select: internals.condition?.select ?? 0 };
      const queue = internals.commandQueue as NonNullable<ClientInternals["commandQueue"]>;
      for (let i = 1; i < n; i++) queue.push(entry);
    },
  };
}

const REFUND_HEAD = `*5\r\n$4\r\nEVAL\r\n$${Buffer.byteLength(REFUND_LUA)}\r\n${REFUND_LUA}\r\n$1\r\n1\r\n`;

/**
 * The limits script as this connection knows it. EVALSHA once `SCRIPT LOAD` has answered on the current connection
 * (the 3 KB body is not written per flush); EVAL with the body until then, after every reconnect (a restarted or
 * failed-over Redis may not hold it) and after a NOSCRIPT reply (SCRIPT FLUSH). A NOSCRIPT reply means the script
 * did not run, so nothing was applied; that batch's callers get UNAVAILABLE like any other failed command.
 */
function createScriptCache(client: Redis) {
  const digest = createHash("sha1").update(LIMITS_LUA).digest("hex");
  let loaded = false;
  let loading = false;
  const load = (): void => {
    if (loading) return;
    loading = true;
    client.script("LOAD", LIMITS_LUA).then(
      (sha) => {
        loading = false;
        loaded = sha === digest;
      },
      () => {
        loading = false;
      },
    );
  };
  client.on("ready", () => {
    loaded = false;
    load();
  });
  return {
    /** The digest to send with EVALSHA, or undefined to send the body (and load it meanwhile). */
    sha(): string | undefined {
      if (!loaded) load();
      return loaded ? digest : undefined;
    },
    /** Notices NOSCRIPT replies, so the next flushes send the body again. */
    checkReplies(batch: WireBatch, replies: RawReplies): RawReplies {
      for (let i = 0; i < batch.kinds.length; i++) {
        const r = replies[i];
        if (batch.kinds[i] === "script" && r instanceof Error && r.message.startsWith("NOSCRIPT")) loaded = false;
      }
      return replies;
    },
  };
}

/**
 * The RESP encoding of every command of `batch`, as one string (the socket encodes it as UTF-8 in one write).
 * Keys may hold any request text, so each key's length is its UTF-8 byte length. `sha` is the limits script's
 * digest when the server has it (EVALSHA), undefined to send its body (EVAL).
 */
export function encodeBatch(batch: WireBatch, sha?: string): string {
  const { kinds, keys, args } = batch;
  let out = "";
  for (let i = 0; i < kinds.length; i++) {
    const key = keys[i] as string;
    const bulkKey = `$${Buffer.byteLength(key)}\r\n${key}\r\n`;
    switch (kinds[i]) {
      case "incr":
        out += `*3\r\n$6\r\nINCRBY\r\n${bulkKey}${bulk(args[i] as number)}`;
        break;
      case "get":
        out += `*2\r\n$3\r\nGET\r\n${bulkKey}`;
        break;
      case "expire":
        out += `*3\r\n$6\r\nEXPIRE\r\n${bulkKey}${bulk(args[i] as number)}`;
        break;
      case "refund":
        out += `${REFUND_HEAD}${bulkKey}${bulk(args[i] as number)}`;
        break;
      case "script":
        out += encodeScript(batch, args[i] as number, sha);
        break;
    }
  }
  return out;
}

const LIMITS_BULK = `$${Buffer.byteLength(LIMITS_LUA)}\r\n${LIMITS_LUA}\r\n`;

/** EVALSHA (or EVAL, see createScriptCache) of one limits-script call. */
function encodeScript(batch: WireBatch, index: number, sha: string | undefined): string {
  const call = batch.scripts[index] as ScriptCall;
  const head = sha === undefined ? `$4\r\nEVAL\r\n${LIMITS_BULK}` : `$7\r\nEVALSHA\r\n$40\r\n${sha}\r\n`;
  const argc = 1 + call.limitArgs.length + call.runArgs.length;
  let out = `*${3 + call.keys.length + argc}\r\n${head}${bulk(call.keys.length)}`;
  for (const key of call.keys) out += `$${Buffer.byteLength(key)}\r\n${key}\r\n`;
  out += bulk(call.limitIndex.size);
  for (const arg of call.limitArgs) out += `$${arg.length}\r\n${arg}\r\n`;
  for (const arg of call.runArgs) out += `$${arg.length}\r\n${arg}\r\n`;
  return out;
}

/** An integer argument as a RESP bulk string. */
function bulk(n: number): string {
  const text = String(n);
  return `$${text.length}\r\n${text}\r\n`;
}
