/**
 * Batches through ioredis pipelines: one per Cluster node serving the batch's keys (all sent at once), so a request
 * still costs one round trip per node it touches. Used for Redis Cluster, where ioredis also follows MOVED/ASK
 * redirections and refreshes its slot map, and as the fallback for a client without the command queue that
 * resp-sender.ts relies on.
 */
import type { ChainableCommander, Cluster, Redis } from "ioredis";
import { keySlot } from "./key-slot.js";
import { LIMITS_COMMAND, scriptArgs } from "./limits-script.js";
import { REFUND_COMMAND } from "./refund-script.js";
import type { RawReplies, Sender, WireBatch } from "./wire-batch.js";

type Pipeline = ChainableCommander & {
  [REFUND_COMMAND]: (key: string, hits: number) => ChainableCommander;
  [LIMITS_COMMAND]: (numKeys: number, ...keysAndArgs: string[]) => ChainableCommander;
};

interface Group {
  readonly pipeline: Pipeline;
  /** Batch index of each command of the pipeline. */
  readonly commands: number[];
}

/** A Sender using ioredis pipelines on `client` (grouped by node when `cluster`). */
export function createPipelineSender(client: Redis | Cluster, cluster: boolean): Sender {
  const groupOf = (groups: Map<string, Group>, key: string): Group | undefined => {
    let id = "";
    if (cluster) {
      const nodes = (client as { slots: string[][] }).slots[keySlot(key)];
      if (nodes === undefined || nodes.length === 0) return undefined;
      id = nodes.join(",");
    }
    let group = groups.get(id);
    if (group === undefined) {
      group = { pipeline: client.pipeline() as Pipeline, commands: [] };
      groups.set(id, group);
    }
    return group;
  };

  return {
    send(batch: WireBatch, done: (replies: RawReplies) => void): void {
      const { kinds, keys, args } = batch;
      const replies: RawReplies = new Array(kinds.length);
      const groups = new Map<string, Group>();
      for (let i = 0; i < kinds.length; i++) {
        const key = keys[i] as string;
        const group = groupOf(groups, key);
        if (group === undefined) {
          replies[i] = new Error("no cluster node serves this key's slot");
          continue;
        }
        group.commands.push(i);
        const arg = args[i] as number;
        const p = group.pipeline;
        if (kinds[i] === "incr") p.incrby(key, arg);
        else if (kinds[i] === "get") p.get(key);
        else if (kinds[i] === "expire") p.expire(key, arg);
        else if (kinds[i] === "script") {
          const call = batch.scripts[arg] as (typeof batch.scripts)[number];
          p[LIMITS_COMMAND](call.keys.length, ...call.keys, ...scriptArgs(call));
        } else p[REFUND_COMMAND](key, arg);
      }
      let pending = groups.size;
      if (pending === 0) {
        done(replies);
        return;
      }
      const finish = (): void => {
        if (--pending === 0) done(replies);
      };
      for (const group of groups.values()) {
        group.pipeline.exec().then(
          (results) => {
            fill(group, results, replies);
            finish();
          },
          (err: unknown) => {
            fill(group, null, replies, err);
            finish();
          },
        );
      }
    },
  };
}

/** Stores a pipeline's per-command replies (or its overall failure) into `replies`, by batch index. */
function fill(group: Group, results: [Error | null, unknown][] | null, replies: RawReplies, failure?: unknown): void {
  const commands = group.commands;
  for (let j = 0; j < commands.length; j++) {
    const result = results?.[j];
    const i = commands[j] as number;
    if (result === undefined) replies[i] = failure instanceof Error ? failure : new Error("pipeline aborted");
    else replies[i] = result[0] ?? result[1];
  }
}
