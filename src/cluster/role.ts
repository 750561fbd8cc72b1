/**
 * Which part this process plays under WORKERS. Pure (the cluster flag comes in as an argument) so the choice is
 * unit-tested; main passes `cluster.isWorker`.
 */
import type { BackendType } from "../settings/settings.js";

/**
 * - `single`: serve in this process, no node:cluster (WORKERS=1, or the memory backend).
 * - `primary`: fork WORKERS workers and supervise them; serve nothing itself.
 * - `worker`: serve, forked by a primary (every worker listens on the same ports).
 */
export type ProcessRole = "single" | "primary" | "worker";

/**
 * The memory backend keeps its counters in the serving process, and a key's counter must live in exactly one process
 * for counts to stay exact. Owning keys per worker would need a router in front of the workers (node:cluster hands
 * out whole connections, and one connection carries requests for any key), which costs more than the extra cores buy
 * for a backend meant for single instances. So the memory backend always runs one process, whatever WORKERS says.
 */
export const MEMORY_SINGLE_PROCESS_NOTE =
  "WORKERS ignored: the memory backend keeps counters in one process, so Sluice serves from one process to keep counts exact";

/** The role of this process for these settings. */
export function processRole(
  settings: { readonly backend: BackendType; readonly workers: number },
  isClusterWorker: boolean,
): ProcessRole {
  if (isClusterWorker) return "worker";
  if (settings.backend === "memory" || settings.workers <= 1) return "single";
  return "primary";
}
