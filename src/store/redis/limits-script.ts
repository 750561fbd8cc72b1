/**
 * The limits script: every op of one flush that the INCRBY fast path cannot apply exactly (a descriptor with several
 * limits, applied all-or-nothing; sliding windows; token and leaky buckets; first-hit windows), in ONE script call
 * per flush (per Cluster slot in Cluster mode). A script call costs Redis far more than an INCRBY, so it is paid once
 * per event-loop turn, not once per op, and the script does as little per op as it can (see the cost notes below).
 *
 * Why Lua: each of these is a read-compare-write over one or more keys ("admit only if every limit of the
 * descriptor has room"), which no plain command does atomically against other Sluice instances sharing the keys.
 *
 * KEYS: per run (below), its state keys in order (sliding window: the current window's key, then the previous one's;
 *       every other strategy: one key). One descriptor's keys share a hash tag, so a group is in one Cluster slot.
 * ARGV[1]: L, the number of distinct limits in the call; then per limit 5 numbers: strategy (1 fixed window,
 *       2 first-hit window, 3 sliding window, 4 GCRA), budget (0|1), requests per unit, window ms, burst; then per run
 *       4 numbers: its limit (1..L), hits (negative: a refund), now (the decision time in ms since the epoch, from
 *       Sluice's injected clock), and n: for an op alone, how many identical ops the run applies in turn (>= 1); for
 *       a descriptor's group of limits, minus the group's size on its first member and 0 on the others. A window's
 *       start is derived from now, as Sluice derives it. Redis TIME is never read: tests stay deterministic and the
 *       memory store computes with the same instant; the price is that instances sharing a Redis must keep their
 *       clocks in sync (NTP), as they must for the reference's epoch windows anyway.
 * Returns: per run, two integers: the state it read before applying (fixed: count, 0; first-hit: start or -1,
 *       count; sliding: previous count, current count; GCRA: anchor or -1, debt). Sluice replays each run's ops from
 *       it with the TypeScript step functions, which this script mirrors for admission and state updates, and so
 *       computes every op's outcome.
 *
 * Cost notes (Redis CPU, measured): parsing an argument, each redis.call and setting a TTL are what a call pays
 * for, so limit constants are sent once per call, identical ops once per run, and a key's TTL is set only when the
 * key is created or its deadline moves; a write that keeps the deadline is `SET ... KEEPTTL` (Redis >= 6.0). A
 * window's deadline is fixed by its start; a first-hit window's by its first hit; a bucket's deadline is the second
 * after the one in which it is full again, plus one second, derived from its stored state, so a busy key keeps its
 * TTL for a second at a time. Only a bucket can be stale: a key left longer than needed holds a full bucket, which
 * reads as fresh; it never expires before the bucket is full (for instance clocks within 1 s of each other). A key
 * whose state is back to fresh is deleted.
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
export const ARGS_PER_RUN = 4;

export const STRATEGY_CODES: { readonly [S in Strategy]: number } = {
  fixed_window: 1,
  fixed_window_first_hit: 2,
  sliding_window: 3,
  gcra: 4,
};

export const LIMITS_LUA = `${FIXED_WINDOW_LUA}${SLIDING_WINDOW_LUA}${GCRA_LUA}
local nlimits = tonumber(ARGV[1])
local ls, lbud, lrpu, lw, lburst = {}, {}, {}, {}, {}
for j = 1, nlimits do
  local b = 1 + (j - 1) * ${ARGS_PER_LIMIT}
  ls[j] = tonumber(ARGV[b + 1]); lbud[j] = tonumber(ARGV[b + 2]); lrpu[j] = tonumber(ARGV[b + 3])
  lw[j] = tonumber(ARGV[b + 4]); lburst[j] = tonumber(ARGV[b + 5])
end
local base = 1 + nlimits * ${ARGS_PER_LIMIT}
local nruns = (#ARGV - base) / ${ARGS_PER_RUN}
local out = {}
-- The run being applied (parse sets these; load sets A0, B0, HAD1, HAD2: its state as read and whether its keys
-- existed).
local S, BUD, RPU, W, BURST, H, NEG, NOW, N, START, K1, K2, A0, B0, HAD1, HAD2
local k = 1
local function parse(i)
  local b = base + (i - 1) * ${ARGS_PER_RUN}
  local l = tonumber(ARGV[b + 1])
  S = ls[l]; BUD = lbud[l]; RPU = lrpu[l]; W = lw[l]; BURST = lburst[l]
  local hits = tonumber(ARGV[b + 2])
  if hits < 0 then H = -hits; NEG = 1 else H = hits; NEG = 0 end
  NOW = tonumber(ARGV[b + 3]); N = tonumber(ARGV[b + 4])
  K1 = KEYS[k]; k = k + 1
  if S == 3 then K2 = KEYS[k]; k = k + 1 end
  if S == 1 or S == 3 then
    local sec = math.floor(NOW / 1000)
    START = (sec - sec % (W / 1000)) * 1000
  end
end
local function load()
  local v = redis.call('GET', K1)
  HAD1 = v ~= false
  if S == 1 then A0 = tonumber(v or '0'); B0 = 0; return end
  if S == 3 then
    local p = redis.call('GET', K2)
    HAD2 = p ~= false
    A0 = tonumber(p or '0'); B0 = tonumber(v or '0')
    return
  end
  if v then
    local at = string.find(v, ' ', 1, true)
    A0 = tonumber(string.sub(v, 1, at - 1)); B0 = tonumber(string.sub(v, at + 1))
  else
    A0 = -1; B0 = 0
  end
end
-- step(a, b) -> admitted, next a, next b, write (for an op alone)
local function step(a, bb)
  if S == 4 then
    local adm, d, wr = gcra_step(a, bb, NOW, H, NEG, BUD, RPU, W, BURST)
    return adm, NOW, d, wr
  end
  if S == 3 then return sliding_step(a, bb, H, NEG, BUD, RPU, W, NOW - START) end
  if S == 2 then
    local st, c = a, bb
    if st < 0 or NOW >= st + W then st = NOW; c = 0 end
    local adm, nc, wr = count_step(c, H, NEG, BUD, RPU)
    return adm, st, nc, wr
  end
  local adm, c, wr = count_step(a, H, NEG, BUD, RPU)
  return adm, c, 0, wr
end
-- Writes one key's state (nil: fresh, so the key is deleted); its TTL is kept when the key existed and its deadline
-- has not moved, else set.
local function put(key, had, value, kept, deadline)
  if value == nil then
    if had then redis.call('DEL', key) end
  elseif had and kept then
    redis.call('SET', key, value, 'KEEPTTL')
  else
    local px = deadline - NOW
    if px < 1 then px = 1 end
    redis.call('PSETEX', key, math.ceil(px), value)
  end
end
-- A bucket key's deadline: the second after the one in which it is full again, plus one.
local function bucket_deadline(anchor, debt)
  return (math.floor((anchor + math.ceil(debt / RPU)) / 1000) + 2) * 1000
end
local function save(na, nb)
  if S == 4 then
    if nb == 0 then put(K1, HAD1, nil) return end
    local d = bucket_deadline(na, nb)
    put(K1, HAD1, string.format('%d %d', na, nb), A0 >= 0 and d <= bucket_deadline(A0, B0), d)
  elseif S == 3 then
    put(K1, HAD1, nb ~= 0 and string.format('%d', nb) or nil, true, START + 2 * W)
    put(K2, HAD2, na ~= 0 and string.format('%d', na) or nil, true, START + W)
  elseif S == 2 then
    put(K1, HAD1, nb ~= 0 and string.format('%d %d', na, nb) or nil, na == A0, na + W)
  else
    put(K1, HAD1, na ~= 0 and string.format('%d', na) or nil, true, START + W)
  end
end
local i = 1
while i <= nruns do
  parse(i)
  if N >= 1 then
    load()
    local a, bb = A0, B0
    out[2 * i - 1] = a; out[2 * i] = bb
    local changed = false
    for _ = 1, N do
      local adm, na, nb, wr = step(a, bb)
      if wr then a = na; bb = nb; changed = true end
    end
    if changed then save(a, bb) end
    i = i + 1
  else
    -- A group: every member is read and stepped before any is written (all-or-nothing).
    local size = -N
    if size < 1 then size = 1 end
    if i + size - 1 > nruns then size = nruns - i + 1 end
    local all, budget = true, false
    local m = {}
    for j = i, i + size - 1 do
      if j > i then parse(j) end
      load()
      out[2 * j - 1] = A0; out[2 * j] = B0
      local adm, na, nb = step(A0, B0)
      all = all and (adm or NEG == 1)
      budget = budget or (BUD == 1 and NEG == 0 and H > 0)
      m[j - i + 1] = { S, RPU, W, H, NOW, START, K1, K2, A0, B0, HAD1, HAD2, na, nb }
    end
    if all or budget then
      for _, f in ipairs(m) do
        if f[4] > 0 then
          S, RPU, W, H, NOW, START, K1, K2, A0, B0, HAD1, HAD2 = unpack(f, 1, 12)
          save(f[13], f[14])
        end
      end
    end
    i = i + size
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
  /** Each run's 4 arguments. */
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
  // n: 1 for an op alone (later identical ops add to it), -size on a group's first member, 0 on the others.
  const n = op.group === 1 ? "1" : op.group > 1 ? String(-op.group) : "0";
  call.runArgs.push(String(index), String(op.negative ? -op.hits : op.hits), String(op.nowMs), n);
  // A group member closes the key to runs: a later lone op must come after the group.
  if (op.group === 1) call.openRuns.set(op.key, run);
  else call.openRuns.delete(op.key);
  return position;
}

/**
 * Whether a lone op repeats a run's first op exactly (so its state before is the one its predecessor leaves). The
 * key is already the same; the window start follows from the limit and the instant.
 */
function sameRun(first: CounterOp, op: CounterOp): boolean {
  return (
    first.limit === op.limit && first.hits === op.hits && first.negative === op.negative && first.nowMs === op.nowMs
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
