/**
 * REDIS_PERSECOND: counters of SECOND-unit limits live in a second Redis (envoyproxy/ratelimit's "two Redis
 * instances"), so their high churn stays off the main one. A request whose ops span both is sent to both at once,
 * so it still costs one round trip.
 */
import type { CounterStore } from "../../domain/ports.js";
import type { CounterOp, Verdict } from "../../domain/types.js";

/** Routes ops with `unit === "second"` to `perSecond` and every other op to `main`; verdicts keep the ops' order. */
export function routeSecondUnits(main: CounterStore, perSecond: CounterStore): CounterStore {
  return {
    apply(ops: readonly CounterOp[]): Promise<readonly Verdict[]> {
      let seconds = 0;
      for (const op of ops) if (op.unit === "second") seconds++;
      if (seconds === 0) return main.apply(ops);
      if (seconds === ops.length) return perSecond.apply(ops);
      const mainOps: CounterOp[] = [];
      const secondOps: CounterOp[] = [];
      for (const op of ops) (op.unit === "second" ? secondOps : mainOps).push(op);
      return Promise.all([main.apply(mainOps), perSecond.apply(secondOps)]).then(([fromMain, fromSecond]) => {
        let m = 0;
        let s = 0;
        return ops.map((op) => (op.unit === "second" ? fromSecond[s++] : fromMain[m++]) as Verdict);
      });
    },
    async close(): Promise<void> {
      await Promise.all([main.close(), perSecond.close()]);
    },
  };
}
