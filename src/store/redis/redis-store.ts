/**
 * The Redis CounterStore, key-compatible with envoyproxy/ratelimit: the same keys, the same counter values
 * (incremented by the hits), and every key expires after the rest of its window plus a random jitter.
 *
 * Cost per request, in Redis commands and round trips:
 * - every `apply()` made in one event-loop turn (all descriptors of all concurrent requests) is written at once, as
 *   one RESP string on the connection (resp-sender.ts; in Cluster mode one pipeline per node, pipeline-sender.ts),
 *   so a request never waits for more than one round trip;
 * - increments of one key within that turn are coalesced into one INCRBY, each op still getting its exact sequential
 *   count (batch-plan.ts);
 * - EXPIRE is sent only when an INCRBY created the key, and without waiting for it: it rides in the next batch.
 *   The reference sends INCRBY + EXPIRE for every descriptor of every request; Sluice sends about one INCRBY per
 *   key and turn, plus one EXPIRE per key and window;
 * - check-only ops (hits 0) are a GET, refunds a small Lua script (refund-script.ts). No Lua on the hot path.
 *
 * Failure contract: `apply()` rejects only with StoreUnavailableError, and always within about REDIS_TIMEOUT: at
 * once when not connected (no offline queue), after the timeout when Redis does not answer (batch-timer.ts decides
 * when an unanswered batch has really waited that long for Redis, not for our own event loop). While a timed-out
 * batch is still unanswered (Redis hung), further calls fail at once instead of piling up behind it; the
 * connection itself is replaced when it stays silent (client-options.ts).
 */
import type { Logger } from "pino";
import { evaluateOps, type StateAccess } from "../../algorithms/index.js";
import { StoreUnavailableError } from "../../domain/errors.js";
import type { Clock, CounterStore } from "../../domain/ports.js";
import type { CounterOp, Outcome } from "../../domain/types.js";
import type { RedisEndpointSettings } from "../../settings/redis-settings.js";
import {
  type BatchPlan,
  createdKey,
  decodeReply,
  planBatch,
  type Segment,
  type SegmentValue,
  stateBefore,
} from "./batch-plan.js";
import { type BatchTimer, createBatchTimer, PENDING, type TimedBatch } from "./batch-timer.js";
import { createRedisConnection, errorSummary, type RedisConnection } from "./connection.js";
import { keySlot } from "./key-slot.js";
import { opStates, stateFromReply } from "./limits-script.js";
import { createPipelineSender } from "./pipeline-sender.js";
import { createRespSender, supportsRespBatches } from "./resp-sender.js";
import { addCommand, addScript, createWireBatch, type RawReplies, type Sender } from "./wire-batch.js";

export interface RedisStoreOptions {
  readonly endpoint: RedisEndpointSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  /** EXPIRATION_JITTER_MAX_SECONDS: each key's TTL gets a random [0, max) seconds more, spreading expirations. */
  readonly expirationJitterMaxSeconds: number;
  /** Random source for the jitter (tests pin it). */
  readonly random?: () => number;
  /** Called on each transition between connected and disconnected. */
  readonly onConnectionChange?: (connected: boolean) => void;
}

/** A CounterStore on one Redis endpoint. */
export interface RedisCounterStore extends CounterStore {
  /** True while the connection is ready (REDIS_HEALTH_CHECK_ACTIVE_CONNECTION). */
  connected(): boolean;
  readonly endpoint: RedisEndpointSettings;
}

/** Connects in the background and returns at once; calls fail with StoreUnavailableError until connected. */
export function createRedisStore(opts: RedisStoreOptions): RedisCounterStore {
  const log = opts.logger.child({ component: "redis-store" });
  const connection = createRedisConnection(opts.endpoint, log, opts.onConnectionChange);
  const client = connection.client;
  const sender =
    !connection.isCluster && supportsRespBatches(client as never)
      ? createRespSender(client as never)
      : createPipelineSender(client, connection.isCluster);
  return new RedisStore(connection, sender, opts);
}

/** Upper bound on EXPIREs waiting for a connection (they are only produced by INCRBYs that succeeded). */
const MAX_PENDING_EXPIRES = 65_536;

interface Waiter {
  readonly ops: readonly CounterOp[];
  readonly resolve: (outcomes: readonly Outcome[]) => void;
  readonly reject: (err: StoreUnavailableError) => void;
}

/** One written batch: its requests (none for a batch of EXPIREs only) and its timeout state. */
interface Batch extends TimedBatch {
  readonly waiters: readonly Waiter[];
  readonly plan: BatchPlan | undefined;
}

class RedisStore implements RedisCounterStore {
  readonly endpoint: RedisEndpointSettings;
  private waiting: Waiter[] = [];
  private expireKeys: string[] = [];
  private expireTtls: number[] = [];
  private scheduled = false;
  private closed = false;
  private readonly flushNow = (): void => this.flush();
  private readonly random: () => number;
  private readonly timer: BatchTimer<Batch>;
  private readonly reader = new ReplyStates();

  constructor(
    private readonly connection: RedisConnection,
    private readonly sender: Sender,
    private readonly opts: RedisStoreOptions,
  ) {
    this.endpoint = opts.endpoint;
    this.random = opts.random ?? Math.random;
    const log = opts.logger.child({ component: "redis-store", redis: opts.endpoint.name });
    this.timer = createBatchTimer<Batch>(opts.endpoint, log, (batch, err) => {
      for (const w of batch.waiters) w.reject(err);
    });
  }

  connected(): boolean {
    return this.connection.ready();
  }

  apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]> {
    if (ops.length === 0) return Promise.resolve([]);
    const refusal = this.connectionRefusal();
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      this.waiting.push({ ops, resolve, reject });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const waiters = this.waiting;
    this.waiting = [];
    for (const w of waiters) w.reject(new StoreUnavailableError("redis store closed"));
    await this.connection.close();
  }

  /** Why a call must fail right now without touching Redis: closed, or no ready connection. */
  private connectionRefusal(): StoreUnavailableError | undefined {
    if (this.closed) return new StoreUnavailableError("redis store closed");
    if (!this.connection.ready()) {
      return new StoreUnavailableError(`redis ${this.endpoint.target} is not connected (${this.connection.status()})`, {
        reason: "disconnected",
      });
    }
    return undefined;
  }

  /** Flushes after the I/O callbacks of this loop turn, so that concurrent requests share one batch. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  /**
   * Runs after this turn's I/O callbacks, so any reply already in the socket has been read: a stall it reports is
   * real, not a reply our busy loop had not read yet.
   */
  private flush(): void {
    this.scheduled = false;
    const waiters = this.waiting;
    if (waiters.length === 0 && this.expireKeys.length === 0) return;
    this.waiting = [];
    const refusal = this.connectionRefusal() ?? this.timer.stallRefusal();
    if (refusal !== undefined) {
      for (const w of waiters) w.reject(refusal); // pending EXPIREs wait for the next flush
      return;
    }
    const wire = createWireBatch();
    let plan: BatchPlan | undefined;
    if (waiters.length > 0) {
      const requests: (readonly CounterOp[])[] = new Array(waiters.length);
      for (let r = 0; r < waiters.length; r++) requests[r] = (waiters[r] as Waiter).ops;
      plan = planBatch(requests, this.connection.isCluster ? keySlot : undefined);
      for (const segment of plan.segments) {
        if (segment.call !== undefined) addScript(wire, segment.call);
        else addCommand(wire, segment.kind, segment.key, segment.total);
      }
    }
    const keys = this.expireKeys;
    const ttls = this.expireTtls;
    this.expireKeys = [];
    this.expireTtls = [];
    for (let i = 0; i < keys.length; i++) addCommand(wire, "expire", keys[i] as string, ttls[i] as number);
    const batch: Batch = { waiters, plan, state: PENDING, sentAt: 0, firedAt: 0, rearmed: false, timer: undefined };
    if (waiters.length > 0) this.timer.arm(batch);
    this.sender.send(wire, (replies) => this.answered(batch, replies));
  }

  private answered(batch: Batch, replies: RawReplies): void {
    const late = this.timer.answered(batch);
    const plan = batch.plan;
    if (plan === undefined) return;
    const segments = plan.segments;
    const values: (SegmentValue | Error)[] = new Array(segments.length);
    let lastRaw: unknown;
    let lastSafe: Error | undefined;
    for (let s = 0; s < segments.length; s++) {
      const raw = replies[s];
      if (raw instanceof Error) {
        if (raw !== lastRaw) lastSafe = sanitize(raw);
        lastRaw = raw;
        values[s] = lastSafe as Error;
      } else {
        const segment = segments[s] as Segment;
        const value = decodeReply(segment.kind, raw);
        // A script replies per run of identical ops; its ops' states are expanded once, for every request.
        values[s] =
          segment.call === undefined || value instanceof Error ? value : opStates(segment.call, value as number[]);
      }
    }
    this.queueExpires(plan, values);
    if (late) return; // its callers were already answered UNAVAILABLE
    const waiters = batch.waiters;
    for (let r = 0; r < waiters.length; r++) this.settle(waiters[r] as Waiter, plan, r, values);
  }

  private settle(waiter: Waiter, plan: BatchPlan, r: number, values: readonly (SegmentValue | Error)[]): void {
    const refs = plan.refs[r] as readonly number[];
    const ops = waiter.ops;
    for (let i = 0; i < ops.length; i++) {
      const value = values[refs[2 * i] as number];
      if (value === undefined || value instanceof Error) {
        const detail = value?.message ?? "no reply";
        waiter.reject(new StoreUnavailableError(`redis ${this.endpoint.target}: ${detail}`, { cause: value }));
        return;
      }
    }
    // The states Redis saw, fed to the same step functions as the memory store (the script already wrote). One
    // reader object per store, pointed at this request's replies, rather than a closure per request.
    const reader = this.reader;
    reader.plan = plan;
    reader.refs = refs;
    reader.values = values;
    const outcomes: Outcome[] = new Array(ops.length);
    evaluateOps(ops, reader, outcomes);
    reader.values = NO_VALUES; // hold no batch's replies past its settling
    waiter.resolve(outcomes);
  }

  /** Keys this batch created get their TTL in the next batch: rest of the window + jitter, in whole seconds. */
  private queueExpires(plan: BatchPlan, values: readonly (SegmentValue | Error)[]): void {
    const segments = plan.segments;
    let nowMs: number | undefined;
    const jitterMax = this.opts.expirationJitterMaxSeconds;
    for (let s = 0; s < segments.length; s++) {
      const segment = segments[s] as Segment;
      const value = values[s];
      if (value === undefined || value instanceof Error || !createdKey(segment, value)) continue;
      if (this.expireKeys.length >= MAX_PENDING_EXPIRES) break;
      nowMs ??= this.opts.clock.nowMs();
      const rest = Math.max(1, Math.ceil((segment.expiresAtMs - nowMs) / 1000));
      this.expireKeys.push(segment.key);
      this.expireTtls.push(rest + (jitterMax > 0 ? Math.floor(this.random() * jitterMax) : 0));
    }
    if (this.expireKeys.length > 0 && !this.closed) this.schedule();
  }
}

const NO_VALUES: readonly (SegmentValue | Error)[] = Object.freeze([]);

/** The StateAccess of one settled request: the state each op saw, decoded from its segment's reply. Writes nothing. */
class ReplyStates implements StateAccess {
  plan: BatchPlan = { segments: [], refs: [] };
  refs: readonly number[] = [];
  values: readonly (SegmentValue | Error)[] = [];

  read(op: CounterOp, i: number): unknown {
    const s = this.refs[2 * i] as number;
    const segment = this.plan.segments[s] as Segment;
    const value = this.values[s] as SegmentValue;
    const at = this.refs[2 * i + 1] as number;
    if (segment.kind !== "script") return stateBefore(segment, value, at);
    const pair = value as readonly number[];
    return stateFromReply(op, pair[2 * at] ?? 0, pair[2 * at + 1] ?? 0);
  }

  write(): void {}
}

/** An Error carrying only the name and message of an ioredis error (never the command's arguments). */
function sanitize(err: unknown): Error {
  const { name, message } = errorSummary(err);
  const safe = new Error(message);
  safe.name = name;
  return safe;
}
