/**
 * Process-level V8 tuning for short GC pauses under load (issue 12, found with bench/reload-stall.mjs).
 *
 * node:http2 hands every request header name and value to JavaScript as an external string, and V8 allocates
 * external strings straight in old space. At 20,000 calls per second that is about 140,000 old-space objects per
 * second which only a full mark-compact frees; with V8's default heap growing factor (up to 4x) the service reached
 * a mark-compact every ~7 s, with about 1,000,000 dead external strings to finalize, and each pause took 120-215 ms
 * (`--trace-gc-nvp`: clearing the external string table alone 40-60 ms). A growing factor of 1.2 runs a
 * mark-compact every 1-2 s instead, each pausing 22-50 ms, for about the same GC time in total.
 *
 * A --heap-growing-percent given by the operator (NODE_OPTIONS or node's own arguments) wins.
 */
import { setFlagsFromString } from "node:v8";

export const HEAP_GROWING_PERCENT = 20;

/** The V8 flag to set, or undefined when the operator already chose one. */
export function gcFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const chosen = (a: string): boolean => a.includes("heap-growing-percent") || a.includes("heap_growing_percent");
  if (execArgv.some(chosen) || chosen(nodeOptions ?? "")) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Applies gcFlag to this process; returns the flag applied, if any. */
export function tuneGc(): string | undefined {
  const flag = gcFlag(process.execArgv, process.env["NODE_OPTIONS"]);
  if (flag !== undefined) setFlagsFromString(flag);
  return flag;
}
