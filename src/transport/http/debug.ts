/**
 * The debug port (DEBUG_PORT, 6070): GET /rlconfig (the loaded rules in the reference's line format), GET /stats
 * (one `name: value` line per stat) and GET / (the list of endpoints, `path: help`, sorted, as the reference).
 */
import type { RuleSource } from "../../domain/ports.js";
import { formatStats } from "../../telemetry/stats.js";
import { type Route, sendText } from "./server.js";

export interface DebugRoutesDeps {
  readonly rules: RuleSource;
  /** Every stat (of the whole process tree with WORKERS > 1), sorted by name. */
  readonly snapshot: () => ReadonlyArray<readonly [string, number]> | Promise<ReadonlyArray<readonly [string, number]>>;
}

/** Routes of the debug listener, including the index at "/". */
export function debugRoutes(deps: DebugRoutesDeps): Route[] {
  const routes: Route[] = [
    {
      path: "/rlconfig",
      help: "print out the currently loaded configuration for debugging",
      handler: (_req, res) => sendText(res, 200, deps.rules.current()?.dump() ?? ""),
    },
    {
      path: "/stats",
      help: "print out stats",
      handler: async (_req, res) => sendText(res, 200, formatStats(await deps.snapshot())),
    },
  ];
  const index = [...routes]
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((r) => `${r.path}: ${r.help}\n`)
    .join("");
  return [...routes, { path: "/", help: "list of debug endpoints", handler: (_req, res) => sendText(res, 200, index) }];
}
