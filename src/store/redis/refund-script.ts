/**
 * The one Lua script of the Redis store, for refunds (Envoy's `is_negative_hits`), a rare path. The hot path (counting)
 * is a plain INCRBY: Redis spends about 20x the CPU on an EVALSHA, and Redis CPU is what limits a fleet sharing one
 * Redis.
 */

/** Name under which the script is registered on the ioredis client (`defineCommand`). */
export const REFUND_COMMAND = "sluiceRefund";

/**
 * KEYS[1]  the counter key (reference fixed-window format, `PREFIX + domain_k1_v1_..._windowStart`)
 * ARGV[1]  hits to give back (positive integer)
 * Returns  {before, after}: the counter before and after the refund.
 *
 * Why Lua: "decrease, but never below zero" is a read-compare-write. Run as one script it is atomic against the
 * INCRBYs of every other instance (Sluice or the reference) sharing the key; a plain DECRBY could go negative and hand
 * out extra allowance. It never creates a missing key, and DECRBY keeps the key's TTL.
 */
export const REFUND_LUA = `
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = tonumber(ARGV[1])
if take > before then take = before end
if take > 0 then redis.call('DECRBY', KEYS[1], take) end
return {before, before - take}
`;
