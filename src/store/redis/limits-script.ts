/**
 * The limits script: every op of one flush that the INCRBY fast path cannot apply exactly (a descriptor with several
 * limits, applied all-or-nothing; sliding windows; token and leaky buckets; first-hit windows), in ONE script call
 * per flush (per Cluster slot in Cluster mode). A script call costs Redis far more than an INCRBY, so it is paid once
 * per event-loop turn, not once per op.
 *
 * Why Lua: each of these is a read-compare-write over one or more keys ("admit only if every limit of the
 * descriptor has room"), which no plain command does atomically against other Sluice instances sharing the keys.
 *
 * KEYS: per op, its state keys in op order (sliding window: the current window's key, then the previous one's;
 *       every other strategy: one key). One descriptor's keys share a hash tag, so a group is in one Cluster slot.
 * ARGV[1]: L, the number of distinct limits in the call; then per limit 5 numbers: strategy (1 fixed window,
 *       2 first-hit window, 3 sliding window, 4 GCRA), budget (0|1), requests per unit, window ms, burst; then per op
 *       5 numbers: its limit (1..L), group size (0 for a group's later members), hits (negative: a refund), window
 *       start ms, and now: the op's decision time in ms since the epoch, from Sluice's injected clock. (A limit's
 *       constants are sent once per call, not per op: parsing arguments is a good part of the script's cost.) Redis
 *       TIME is never read: tests stay deterministic and the memory store computes with the same instant; the price
 *       is that instances sharing a Redis must keep their clocks in sync (NTP), as they must for the reference's
 *       epoch windows anyway.
 * Returns: per op, two integers: the state it read before applying (fixed: count, 0; first-hit: start or -1,
 *       count; sliding: previous count, current count; GCRA: anchor or -1, debt). Sluice computes each outcome from
 *       these with the TypeScript step functions, which this script mirrors for admission and state updates.
 * Keys get a PX TTL from the same clock when written, and are deleted when their state is back to fresh. Within one
 * call each key is read at most once and written at most once (a write-back table): hot keys that many requests of
 * the flush touch cost one GET and one SET, not one per op.
 */

import { moduleOf } from "../../algorithms/index.js";
import { FIXED_WINDOW_LUA } from "../../algorithms/lua/fixed-window.lua.js";
import { GCRA_LUA } from "../../algorithms/lua/gcra.lua.js";
import { SLIDING_WINDOW_LUA } from "../../algorithms/lua/sliding-window.lua.js";
import type { CounterOp, Limit, Strategy } from "../../domain/types.js";

/** Name under which the script is registered on ioredis clients (`defineCommand`, pipelines in Cluster mode). */
export const LIMITS_COMMAND = "sluiceLimits";

/** Numbers per limit and per run in ARGV. */
export const ARGS_PER_LIMIT = 5;
export const ARGS_PER_RUN = 6;

export const STRATEGY_CODES: { readonly [S in Strategy]: number } = {
  fixed_window: 1,
  fixed_window_first_hit: 2,
  sliding_window: 3,
  gcra: 4,
};

export const LIMITS_LUA = `${FIXED_WINDOW_LUA}${SLIDING_WINDOW_LUA}${GCRA_LUA}
local nlimits = tonumber(ARGV[1])
local base = 1 + nlimits * ${ARGS_PER_LIMIT}
local nruns = (#ARGV - base) / ${ARGS_PER_RUN}
local out = {}
-- Per key: its state as numbers (va nil: not read yet; vb nil: a one-number state), and the PX of its pending
-- write (nil: clean; -1: delete). Keys are read and parsed once, and formatted and written once, per call.
local va, vb, px, order = {}, {}, {}, {}
local function read1(key)
  local v = va[key]
  if v == nil then
    v = tonumber(redis.call('GET', key) or '0')
    va[key] = v
  end
  return v
end
local function read2(key)
  local v = va[key]
  if v == nil then
    local text = redis.call('GET', key)
    if text then
      local at = string.find(text, ' ', 1, true)
      v = tonumber(string.sub(text, 1, at - 1))
      vb[key] = tonumber(string.sub(text, at + 1))
    else
      v = -1
      vb[key] = 0
    end
    va[key] = v
  end
  return v, vb[key]
end
local function write(key, a, b, ms)
  if px[key] == nil then order[#order + 1] = key end
  va[key] = a
  vb[key] = b
  if not ms then px[key] = -1 elseif ms < 1 then px[key] = 1 else px[key] = math.ceil(ms) end
end
local s, g, h, neg, bud, rpu, w, burst, start, nw, cnt, k1, k2 = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local k = 1
local ls, lbud, lrpu, lw, lburst = {}, {}, {}, {}, {}
for j = 1, nlimits do
  local b = 1 + (j - 1) * ${ARGS_PER_LIMIT}
  ls[j] = tonumber(ARGV[b + 1]); lbud[j] = tonumber(ARGV[b + 2]); lrpu[j] = tonumber(ARGV[b + 3])
  lw[j] = tonumber(ARGV[b + 4]); lburst[j] = tonumber(ARGV[b + 5])
end
for i = 1, nruns do
  local b = base + (i - 1) * ${ARGS_PER_RUN}
  local l = tonumber(ARGV[b + 1])
  s[i] = ls[l]; bud[i] = lbud[l]; rpu[i] = lrpu[l]; w[i] = lw[l]; burst[i] = lburst[l]
  g[i] = tonumber(ARGV[b + 2])
  local hits = tonumber(ARGV[b + 3])
  if hits < 0 then h[i] = -hits; neg[i] = 1 else h[i] = hits; neg[i] = 0 end
  start[i] = tonumber(ARGV[b + 4]); nw[i] = tonumber(ARGV[b + 5]); cnt[i] = tonumber(ARGV[b + 6])
  k1[i] = KEYS[k]; k = k + 1
  if s[i] == 3 then k2[i] = KEYS[k]; k = k + 1 end
end
local function load(i)
  if s[i] == 1 then return read1(k1[i]), 0 end
  if s[i] == 3 then return read1(k2[i]), read1(k1[i]) end
  return read2(k1[i])
end
-- step(i, a, b) -> admitted, next a, next b, write (for an op alone)
local function step(i, a, bb)
  local now = nw[i]
  if s[i] == 1 then
    local adm, c, wr = count_step(a, h[i], neg[i], bud[i], rpu[i])
    return adm, c, 0, wr
  end
  if s[i] == 2 then
    local st, c = a, bb
    if st < 0 or now >= st + w[i] then st = now; c = 0 end
    local adm, nc, wr = count_step(c, h[i], neg[i], bud[i], rpu[i])
    return adm, st, nc, wr
  end
  if s[i] == 3 then
    local adm, np, nc, wr = sliding_step(a, bb, h[i], neg[i], bud[i], rpu[i], w[i], now - start[i])
    return adm, np, nc, wr
  end
  local adm, d, wr = gcra_step(a, bb, now, h[i], neg[i], bud[i], rpu[i], w[i], burst[i])
  return adm, now, d, wr
end
-- A state back to fresh is deleted.
local function save(i, na, nb)
  local now = nw[i]
  if s[i] == 1 then
    if na == 0 then write(k1[i], 0, nil, false) else write(k1[i], na, nil, start[i] + w[i] - now) end
  elseif s[i] == 2 then
    if nb == 0 then write(k1[i], -1, 0, false) else write(k1[i], na, nb, na + w[i] - now) end
  elseif s[i] == 3 then
    if nb == 0 then write(k1[i], 0, nil, false) else write(k1[i], nb, nil, start[i] + 2 * w[i] - now) end
    if na == 0 then write(k2[i], 0, nil, false) else write(k2[i], na, nil, start[i] + w[i] - now) end
  else
    if nb == 0 then write(k1[i], -1, 0, false) else write(k1[i], na, nb, nb / rpu[i]) end
  end
end
local i = 1
while i <= nruns do
  local size = g[i]
  if size < 1 then size = 1 end
  if i + size - 1 > nruns then size = nruns - i + 1 end
  if size == 1 then
    local a, bb = load(i)
    out[2 * i - 1] = a; out[2 * i] = bb
    local changed = false
    for _ = 1, cnt[i] do
      local adm, na, nb, wr = step(i, a, bb)
      if wr then a = na; bb = nb; changed = true end
    end
    if changed then save(i, a, bb) end
  else
    local all, budget = true, false
    local na, nb = {}, {}
    for j = i, i + size - 1 do
      local a, bb = load(j)
      out[2 * j - 1] = a; out[2 * j] = bb
      local adm
      adm, na[j], nb[j] = step(j, a, bb)
      all = all and (adm or neg[j] == 1)
      budget = budget or (bud[j] == 1 and neg[j] == 0 and h[j] > 0)
    end
    if all or budget then
      for j = i, i + size - 1 do
        if h[j] > 0 then save(j, na[j], nb[j]) end
      end
    end
  end
  i = i + size
end
for _, key in ipairs(order) do
  local ms = px[key]
  if ms < 0 then
    redis.call('DEL', key)
  elseif vb[key] == nil then
    redis.call('PSETEX', key, ms, string.format('%d', va[key]))
  else
    redis.call('PSETEX', key, ms, string.format('%d %d', va[key], vb[key]))
  end
end
return out
`;

/**
 * Keys and arguments of one script call, built op by op. Consecutive identical lone ops on one key (same limit, hits,
 * sign and instant: the hot key of many concurrent requests) share one "run", sent once with a count: the script
 * applies its ops one by one without parsing them again, and replies with the state before the run.
 */
export interface ScriptCall {
  readonly keys: string[];
  /** Each distinct limit's 5 arguments, in first-use order. */
  readonly limitArgs: string[];
  /** Each run's 6 arguments. */
  readonly runArgs: string[];
  readonly limitIndex: Map<Limit, number>;
  /** The ops, in the order they were added; an op's position is its index here. */
  readonly ops: CounterOp[];
  /** Per run: its first op. */
  readonly runFirst: number[];
  /** Per op: the next op of its run, or -1. */
  readonly nextInRun: number[];
  /** Per run: its last op (where the next member is linked). */
  readonly runLast: number[];
  /** Per op.key: the run a later identical lone op may still join (none once another op touched the key). */
  readonly openRuns: Map<string, number>;
}

export function createScriptCall(): ScriptCall {
  return {
    keys: [],
    limitArgs: [],
    runArgs: [],
    limitIndex: new Map(),
    ops: [],
    runFirst: [],
    nextInRun: [],
    runLast: [],
    openRuns: new Map(),
  };
}

/** The call's ARGV, in order. */
export function scriptArgs(call: ScriptCall): string[] {
  return [String(call.limitIndex.size), ...call.limitArgs, ...call.runArgs];
}

/** Appends one op; returns its position in the call. */
export function addScriptOp(call: ScriptCall, op: CounterOp): number {
  const position = call.ops.length;
  call.ops.push(op);
  call.nextInRun.push(-1);
  const open = call.openRuns.get(op.key);
  if (op.group === 1 && open !== undefined && sameRun(call.ops[call.runFirst[open] as number] as CounterOp, op)) {
    call.nextInRun[call.runLast[open] as number] = position;
    call.runLast[open] = position;
    const countArg = open * ARGS_PER_RUN + ARGS_PER_RUN - 1;
    call.runArgs[countArg] = String(Number(call.runArgs[countArg]) + 1);
    return position;
  }
  const { limit } = op;
  let index = call.limitIndex.get(limit);
  if (index === undefined) {
    index = call.limitIndex.size + 1;
    call.limitIndex.set(limit, index);
    call.limitArgs.push(
      String(STRATEGY_CODES[limit.strategy]),
      limit.budget ? "1" : "0",
      String(limit.requestsPerUnit),
      String(limit.windowSeconds * 1000),
      String(limit.burst),
    );
  }
  for (const key of moduleOf(op).keys(op)) call.keys.push(key);
  const run = call.runFirst.length;
  call.runFirst.push(position);
  call.runLast.push(position);
  call.runArgs.push(
    String(index),
    String(op.group),
    String(op.negative ? -op.hits : op.hits),
    String(op.windowStartSeconds * 1000),
    String(op.nowMs),
    "1",
  );
  // A group member closes the key to runs: a later lone op must come after the group.
  if (op.group === 1) call.openRuns.set(op.key, run);
  else call.openRuns.delete(op.key);
  return position;
}

/** Whether a lone op repeats a run's first op exactly (so its state before is the one its predecessor leaves). */
function sameRun(first: CounterOp, op: CounterOp): boolean {
  return (
    first.limit === op.limit &&
    first.hits === op.hits &&
    first.negative === op.negative &&
    first.nowMs === op.nowMs &&
    first.windowStartSeconds === op.windowStartSeconds
  );
}

/**
 * Turns the script's reply (the state before each run, two integers per run) into the state before each op (two
 * integers per op, in op order): a run's later ops see the state its earlier ops left, replayed with the same step
 * functions the script mirrors. An Error when the reply does not match the call.
 */
export function opStates(call: ScriptCall, runStates: readonly number[]): readonly number[] | Error {
  const runs = call.runFirst.length;
  if (runStates.length !== 2 * runs) return new Error("unexpected limits script reply");
  if (runs === call.ops.length) return runStates;
  const out: number[] = new Array(2 * call.ops.length);
  for (let r = 0; r < runs; r++) {
    let i = call.runFirst[r] as number;
    out[2 * i] = runStates[2 * r] as number;
    out[2 * i + 1] = runStates[2 * r + 1] as number;
    for (let next = call.nextInRun[i] as number; next >= 0; next = call.nextInRun[i] as number) {
      const op = call.ops[i] as CounterOp;
      const result = moduleOf(op).step(stateFromReply(op, out[2 * i] as number, out[2 * i + 1] as number), op, true);
      if (result.write) {
        replyOf(op, result.next, out, next);
      } else {
        out[2 * next] = out[2 * i] as number;
        out[2 * next + 1] = out[2 * i + 1] as number;
      }
      i = next;
    }
  }
  return out;
}

/** The state an op's script reply carries, in the form its algorithm module's `step` reads. */
export function stateFromReply(op: CounterOp, a: number, b: number): unknown {
  switch (op.limit.strategy) {
    case "fixed_window":
      return a;
    case "fixed_window_first_hit":
    case "gcra":
      return a < 0 ? undefined : [a, b];
    case "sliding_window":
      return [a, b];
  }
}

/** The inverse of stateFromReply: writes `state` as the two integers of position `at` in `out`. */
function replyOf(op: CounterOp, state: unknown, out: number[], at: number): void {
  if (op.limit.strategy === "fixed_window") {
    out[2 * at] = (state as number | undefined) ?? 0;
    out[2 * at + 1] = 0;
    return;
  }
  const pair = state as readonly [number, number] | undefined;
  const fresh = op.limit.strategy === "sliding_window" ? 0 : -1;
  out[2 * at] = pair === undefined ? fresh : pair[0];
  out[2 * at + 1] = pair === undefined ? 0 : pair[1];
}
