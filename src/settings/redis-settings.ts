/**
 * Redis settings (REDIS_* env vars, as envoyproxy/ratelimit names them). STUB: owned by the Redis work (issue 3).
 */
import type { Env, Problems } from "./problems.js";

export interface RedisSettings {
  readonly url: string;
}

/** Parses REDIS_* into typed settings, adding every problem to `p`. */
export function parseRedisSettings(env: Env, p: Problems): RedisSettings {
  return { url: p.str(env, "REDIS_URL", "") };
}
