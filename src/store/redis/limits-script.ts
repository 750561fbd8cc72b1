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

/** Numbers per limit and per op in ARGV. */
export const ARGS_PER_LIMIT = 5;
export const ARGS_PER_OP = 5;

export const STRATEGY_CODES: { readonly [S in Strategy]: number } = {
  fixed_window: 1,
  fixed_window_first_hit: 2,
  sliding_window: 3,
  gcra: 4,
};

export const LIMITS_LUA = `${FIXED_WINDOW_LUA}${SLIDING_WINDOW_LUA}${GCRA_LUA}
local nlimits = tonumber(ARGV[1])
local base = 1 + nlimits * ${ARGS_PER_LIMIT}
local nops = (#ARGV - base) / ${ARGS_PER_OP}
local out = {}
local seen, dirty, order = {}, {}, {}
local function get(key)
  local v = seen[key]
  if v == nil then
    v = redis.call('GET', key) or false
    seen[key] = v
  end
  if v == false then return nil end
  return v
end
local function put(key, v, px)
  if dirty[key] == nil then order[#order + 1] = key end
  seen[key] = v
  dirty[key] = px
end
local function pair(v)
  if not v then return -1, 0 end
  local at = string.find(v, ' ', 1, true)
  return tonumber(string.sub(v, 1, at - 1)), tonumber(string.sub(v, at + 1))
end
local function ttl(ms)
  if ms < 1 then return 1 end
  return math.ceil(ms)
end
local s, g, h, neg, bud, rpu, w, burst, start, nw, k1, k2, sa, sb = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
local k = 1
local ls, lbud, lrpu, lw, lburst = {}, {}, {}, {}, {}
for j = 1, nlimits do
  local b = 1 + (j - 1) * ${ARGS_PER_LIMIT}
  ls[j] = tonumber(ARGV[b + 1]); lbud[j] = tonumber(ARGV[b + 2]); lrpu[j] = tonumber(ARGV[b + 3])
  lw[j] = tonumber(ARGV[b + 4]); lburst[j] = tonumber(ARGV[b + 5])
end
for i = 1, nops do
  local b = base + (i - 1) * ${ARGS_PER_OP}
  local l = tonumber(ARGV[b + 1])
  s[i] = ls[l]; bud[i] = lbud[l]; rpu[i] = lrpu[l]; w[i] = lw[l]; burst[i] = lburst[l]
  g[i] = tonumber(ARGV[b + 2])
  local hits = tonumber(ARGV[b + 3])
  if hits < 0 then h[i] = -hits; neg[i] = 1 else h[i] = hits; neg[i] = 0 end
  start[i] = tonumber(ARGV[b + 4]); nw[i] = tonumber(ARGV[b + 5])
  k1[i] = KEYS[k]; k = k + 1
  if s[i] == 3 then k2[i] = KEYS[k]; k = k + 1 end
end
local function load(i)
  if s[i] == 1 then return tonumber(get(k1[i]) or '0'), 0 end
  if s[i] == 3 then
    return tonumber(get(k2[i]) or '0'), tonumber(get(k1[i]) or '0')
  end
  return pair(get(k1[i]))
end
-- step(i) -> admitted, next a, next b, write (for an op alone)
local function step(i)
  local a, bb, now = sa[i], sb[i], nw[i]
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
-- A state back to fresh is deleted (put false, px -1).
local function save(i, na, nb)
  local now = nw[i]
  if s[i] == 1 then
    if na == 0 then put(k1[i], false, -1) else put(k1[i], string.format('%d', na), ttl(start[i] + w[i] - now)) end
  elseif s[i] == 2 then
    if nb == 0 then put(k1[i], false, -1) else put(k1[i], string.format('%d %d', na, nb), ttl(na + w[i] - now)) end
  elseif s[i] == 3 then
    if nb == 0 then put(k1[i], false, -1) else put(k1[i], string.format('%d', nb), ttl(start[i] + 2 * w[i] - now)) end
    if na == 0 then put(k2[i], false, -1) else put(k2[i], string.format('%d', na), ttl(start[i] + w[i] - now)) end
  else
    if nb == 0 then put(k1[i], false, -1) else put(k1[i], string.format('%d %d', na, nb), ttl(nb / rpu[i])) end
  end
end
local i = 1
while i <= nops do
  local size = g[i]
  if size < 1 then size = 1 end
  if i + size - 1 > nops then size = nops - i + 1 end
  local all, budget = true, false
  local na, nb, wr = {}, {}, {}
  for j = i, i + size - 1 do
    sa[j], sb[j] = load(j)
    out[2 * j - 1] = sa[j]; out[2 * j] = sb[j]
    local adm
    adm, na[j], nb[j], wr[j] = step(j)
    all = all and (adm or neg[j] == 1)
    budget = budget or (bud[j] == 1 and neg[j] == 0 and h[j] > 0)
  end
  if size == 1 then
    if wr[i] then save(i, na[i], nb[i]) end
  elseif all or budget then
    for j = i, i + size - 1 do
      if h[j] > 0 then save(j, na[j], nb[j]) end
    end
  end
  i = i + size
end
for _, key in ipairs(order) do
  local v = seen[key]
  if v == false then redis.call('DEL', key) else redis.call('PSETEX', key, dirty[key], v) end
end
return out
`;

/** Keys and arguments of one script call, built op by op. */
export interface ScriptCall {
  readonly keys: string[];
  /** Each distinct limit's 5 arguments, in first-use order. */
  readonly limitArgs: string[];
  /** Each op's 5 arguments. */
  readonly opArgs: string[];
  readonly limitIndex: Map<Limit, number>;
  /** The ops, in call order (their states come back in the same order). */
  readonly ops: CounterOp[];
}

export function createScriptCall(): ScriptCall {
  return { keys: [], limitArgs: [], opArgs: [], limitIndex: new Map(), ops: [] };
}

/** The call's ARGV, in order. */
export function scriptArgs(call: ScriptCall): string[] {
  return [String(call.limitIndex.size), ...call.limitArgs, ...call.opArgs];
}

/** Appends one op; returns its position in the call. */
export function addScriptOp(call: ScriptCall, op: CounterOp): number {
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
  call.opArgs.push(
    String(index),
    String(op.group),
    String(op.negative ? -op.hits : op.hits),
    String(op.windowStartSeconds * 1000),
    String(op.nowMs),
  );
  call.ops.push(op);
  return call.ops.length - 1;
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
