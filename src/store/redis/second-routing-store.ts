/**
 * REDIS_PERSECOND: counters of SECOND-unit limits live in a second Redis (envoyproxy/ratelimit's "two Redis
 * instances"), so their high churn stays off the main one. A request whose ops span both is sent to both at once,
 * so it still costs one round trip.
 */
import type { CounterStore } from "../../domain/ports.js";
import type { CounterOp, Outcome } from "../../domain/types.js";

/**
 * Routes ops with `unit === "second"` to `perSecond` and every other op to `main`; outcomes keep the ops' order. A
 * descriptor's limits (a group) stay together: the group goes to `perSecond` only when all of its limits are
 * per-second, so it is still applied atomically in one Redis.
 */
export function routeSecondUnits(main: CounterStore, perSecond: CounterStore): CounterStore {
  return {
    apply(ops: readonly CounterOp[]): Promise<readonly Outcome[]> {
      const toSecond = routes(ops);
      let seconds = 0;
      for (const s of toSecond) if (s) seconds++;
      if (seconds === 0) return main.apply(ops);
      if (seconds === ops.length) return perSecond.apply(ops);
      const mainOps: CounterOp[] = [];
      const secondOps: CounterOp[] = [];
      for (let i = 0; i < ops.length; i++) (toSecond[i] ? secondOps : mainOps).push(ops[i] as CounterOp);
      return Promise.all([main.apply(mainOps), perSecond.apply(secondOps)]).then(([fromMain, fromSecond]) => {
        let m = 0;
        let s = 0;
        return ops.map((_op, i) => (toSecond[i] ? fromSecond[s++] : fromMain[m++]) as Outcome);
      });
    },
    async close(): Promise<void> {
      await Promise.all([main.close(), perSecond.close()]);
    },
  };
}

/** Per op: whether it goes to the per-second Redis (its whole group is per-second). */
function routes(ops: readonly CounterOp[]): boolean[] {
  const out: boolean[] = new Array(ops.length);
  for (let i = 0; i < ops.length; ) {
    const size = Math.max(1, (ops[i] as CounterOp).group);
    let all = true;
    for (let j = i; j < i + size && j < ops.length; j++) all &&= (ops[j] as CounterOp).limit.unit === "second";
    for (let j = i; j < i + size && j < ops.length; j++) out[j] = all;
    i += size;
  }
  return out;
}
