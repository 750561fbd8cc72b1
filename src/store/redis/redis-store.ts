/**
 * The Redis CounterStore, key-compatible with envoyproxy/ratelimit: the same keys, the same counter values
 * (incremented by the hits), and every key expires after the rest of its window plus a random jitter.
 *
 * Cost per request, in Redis commands and round trips:
 * - every `apply()` made in one event-loop turn (all descriptors of all concurrent requests) is sent as ONE pipeline
 *   (in Cluster mode one pipeline per node, all sent at once), so a request never waits for more than one round trip;
 * - increments of one key within that turn are coalesced into one INCRBY, each op still getting its exact sequential
 *   count (batch-plan.ts);
 * - EXPIRE is sent only when an INCRBY created the key, and without waiting for it: it rides in the next pipeline.
 *   The reference sends INCRBY + EXPIRE for every descriptor of every request; Sluice sends about one INCRBY per
 *   key and turn, plus one EXPIRE per key and window;
 * - check-only ops (hits 0) are a GET, refunds a small Lua script (refund-script.ts). No Lua on the hot path.
 *
 * Failure contract: `apply()` rejects only with StoreUnavailableError, and always within REDIS_TIMEOUT: at once when
 * not connected (no offline queue), after the timeout when Redis does not answer. While a timed-out batch is still
 * unanswered (Redis hung), further calls fail at once instead of piling up behind it; the connection itself is
 * replaced when it stays silent (client-options.ts).
 */
import { performance } from "node:perf_hooks";
import type { ChainableCommander } from "ioredis";
import type { Logger } from "pino";
import { StoreUnavailableError } from "../../domain/errors.js";
import type { Clock, CounterStore } from "../../domain/ports.js";
import type { CounterOp, Verdict } from "../../domain/types.js";
import type { RedisEndpointSettings } from "../../settings/redis-settings.js";
import {
  type BatchPlan,
  createdKey,
  decodeReply,
  planBatch,
  type Segment,
  type SegmentValue,
  verdictOf,
} from "./batch-plan.js";
import { stallTimeoutMs } from "./client-options.js";
import { createRedisConnection, errorSummary, type RedisConnection } from "./connection.js";
import { keySlot } from "./key-slot.js";
import { REFUND_COMMAND } from "./refund-script.js";

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
  return new RedisStore(connection, opts);
}

/** Upper bound on EXPIREs waiting for a connection (they are only produced by INCRBYs that succeeded). */
const MAX_PENDING_EXPIRES = 65_536;

interface Waiter {
  readonly ops: readonly CounterOp[];
  readonly resolve: (verdicts: readonly Verdict[]) => void;
  readonly reject: (err: StoreUnavailableError) => void;
}

type Pipeline = ChainableCommander & { [REFUND_COMMAND]: (key: string, hits: number) => ChainableCommander };

interface Group {
  readonly pipeline: Pipeline;
  /** Segment index of each command of the pipeline (EXPIREs, appended last, have none). */
  readonly segments: number[];
}

class RedisStore implements RedisCounterStore {
  readonly endpoint: RedisEndpointSettings;
  private waiting: Waiter[] = [];
  private expireKeys: string[] = [];
  private expireTtls: number[] = [];
  private scheduled = false;
  private closed = false;
  /** Batches that timed out and are still unanswered, and until when (performance.now()) they block new calls. */
  private stalledBatches = 0;
  private stalledUntil = 0;
  private readonly flushNow = (): void => this.flush();
  private readonly random: () => number;

  constructor(
    private readonly connection: RedisConnection,
    private readonly opts: RedisStoreOptions,
  ) {
    this.endpoint = opts.endpoint;
    this.random = opts.random ?? Math.random;
  }

  connected(): boolean {
    return this.connection.ready();
  }

  apply(ops: readonly CounterOp[]): Promise<readonly Verdict[]> {
    if (ops.length === 0) return Promise.resolve([]);
    const refusal = this.refusal();
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

  /** Why a call must fail right now without touching Redis, if it must. */
  private refusal(): StoreUnavailableError | undefined {
    if (this.closed) return new StoreUnavailableError("redis store closed");
    const target = this.endpoint.target;
    if (!this.connection.ready()) {
      return new StoreUnavailableError(`redis ${target} is not connected (${this.connection.status()})`);
    }
    if (this.stalledBatches > 0 && performance.now() < this.stalledUntil) {
      return new StoreUnavailableError(`redis ${target} has not answered earlier commands`);
    }
    return undefined;
  }

  /** Flushes after the I/O callbacks of this loop turn, so that concurrent requests share one pipeline. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNow);
  }

  private flush(): void {
    this.scheduled = false;
    const waiters = this.waiting;
    this.waiting = [];
    if (waiters.length === 0 && this.expireKeys.length === 0) return;
    const refusal = this.refusal();
    if (refusal !== undefined) {
      for (const w of waiters) w.reject(refusal); // pending EXPIREs wait for the next flush
      return;
    }
    const plan = planBatch(waiters.map((w) => w.ops));
    const replies: (SegmentValue | Error | undefined)[] = new Array(plan.segments.length);
    const groups = this.pipelines(plan, replies);
    this.send(plan, groups, replies, waiters);
  }

  /** Builds one pipeline per node (a single one outside Cluster mode), with the pending EXPIREs appended. */
  private pipelines(plan: BatchPlan, replies: (SegmentValue | Error | undefined)[]): Group[] {
    const groups = new Map<string, Group>();
    const groupOf = (key: string): Group | undefined => {
      let id = "";
      if (this.connection.isCluster) {
        const nodes = (this.connection.client as { slots: string[][] }).slots[keySlot(key)];
        if (nodes === undefined || nodes.length === 0) return undefined;
        id = nodes.join(",");
      }
      let group = groups.get(id);
      if (group === undefined) {
        group = { pipeline: this.connection.client.pipeline() as Pipeline, segments: [] };
        groups.set(id, group);
      }
      return group;
    };
    plan.segments.forEach((segment, s) => {
      const group = groupOf(segment.key);
      if (group === undefined) {
        replies[s] = new Error("no cluster node serves this key's slot");
        return;
      }
      group.segments.push(s);
      if (segment.kind === "incr") group.pipeline.incrby(segment.key, segment.total);
      else if (segment.kind === "get") group.pipeline.get(segment.key);
      else group.pipeline[REFUND_COMMAND](segment.key, segment.total);
    });
    const keys = this.expireKeys;
    const ttls = this.expireTtls;
    this.expireKeys = [];
    this.expireTtls = [];
    for (let i = 0; i < keys.length; i++)
      groupOf(keys[i] as string)?.pipeline.expire(keys[i] as string, ttls[i] as number);
    return [...groups.values()];
  }

  private send(
    plan: BatchPlan,
    groups: readonly Group[],
    replies: (SegmentValue | Error | undefined)[],
    waiters: readonly Waiter[],
  ): void {
    let settled = false;
    let timedOut = false;
    const timeoutMs = this.endpoint.timeoutMs;
    // The timer only arms a check that runs after this turn's I/O callbacks (setImmediate): a reply that already
    // arrived while the event loop was busy is read first, so the timeout measures Redis, not our own loop lag.
    const timer =
      waiters.length === 0
        ? undefined
        : setTimeout(() => {
            setImmediate(() => {
              if (settled) return;
              timedOut = true;
              this.stalledBatches++;
              this.stalledUntil = performance.now() + stallTimeoutMs(this.endpoint);
              const err = new StoreUnavailableError(
                `redis ${this.endpoint.target} did not answer within ${timeoutMs} ms`,
              );
              for (const w of waiters) w.reject(err);
            });
          }, timeoutMs);
    const sent = groups.map((g) =>
      g.pipeline.exec().then(
        (results) => fillReplies(plan, g, results, replies),
        (err: unknown) => fillReplies(plan, g, null, replies, err),
      ),
    );
    void Promise.all(sent)
      .then(() => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        this.queueExpires(plan, replies);
        if (timedOut) {
          this.stalledBatches--;
          return;
        }
        for (let r = 0; r < waiters.length; r++) this.settle(waiters[r] as Waiter, plan, r, replies);
      })
      .catch((err: unknown) => {
        // Only a bug could land here; callers still get the one error type they expect (settled ones ignore it).
        const failure = new StoreUnavailableError("redis store failed", { cause: sanitize(err) });
        for (const w of waiters) w.reject(failure);
      });
  }

  private settle(
    waiter: Waiter,
    plan: BatchPlan,
    r: number,
    replies: readonly (SegmentValue | Error | undefined)[],
  ): void {
    const refs = plan.refs[r] as readonly number[];
    const ops = waiter.ops;
    const verdicts: Verdict[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const s = refs[2 * i] as number;
      const value = replies[s];
      if (value === undefined || value instanceof Error) {
        const detail = value?.message ?? "no reply";
        waiter.reject(new StoreUnavailableError(`redis ${this.endpoint.target}: ${detail}`, { cause: value }));
        return;
      }
      verdicts[i] = verdictOf(plan.segments[s] as Segment, value, refs[2 * i + 1] as number, ops[i] as CounterOp);
    }
    waiter.resolve(verdicts);
  }

  /** Keys this batch created get their TTL in the next pipeline: rest of the window + jitter, in whole seconds. */
  private queueExpires(plan: BatchPlan, replies: readonly (SegmentValue | Error | undefined)[]): void {
    const nowMs = this.opts.clock.nowMs();
    const jitterMax = this.opts.expirationJitterMaxSeconds;
    plan.segments.forEach((segment, s) => {
      const value = replies[s];
      if (value === undefined || value instanceof Error || !createdKey(segment, value)) return;
      if (this.expireKeys.length >= MAX_PENDING_EXPIRES) return;
      const rest = Math.max(1, Math.ceil((segment.expiresAtMs - nowMs) / 1000));
      this.expireKeys.push(segment.key);
      this.expireTtls.push(rest + (jitterMax > 0 ? Math.floor(this.random() * jitterMax) : 0));
    });
    if (this.expireKeys.length > 0 && !this.closed) this.schedule();
  }
}

/** Stores a pipeline's per-command replies (or its overall failure) into `replies`, by segment index. */
function fillReplies(
  plan: BatchPlan,
  group: Group,
  results: [Error | null, unknown][] | null,
  replies: (SegmentValue | Error | undefined)[],
  failure?: unknown,
): void {
  group.segments.forEach((s, i) => {
    const result = results?.[i];
    if (result === undefined) {
      replies[s] = sanitize(failure ?? new Error("pipeline aborted"));
    } else if (result[0] !== null) {
      replies[s] = sanitize(result[0]);
    } else {
      replies[s] = decodeReply((plan.segments[s] as Segment).kind, result[1]);
    }
  });
}

/** An Error carrying only the name and message of an ioredis error (never the command's arguments). */
function sanitize(err: unknown): Error {
  const { name, message } = errorSummary(err);
  const safe = new Error(message);
  safe.name = name;
  return safe;
}
