/**
 * Worker-thread entry (parse-off-loop.ts). Parsing must not take CPU from serving, so this thread first lowers its own
 * priority, and only then loads the parser (parse-worker-handler.ts): loading and compiling those modules is itself
 * tens of milliseconds of CPU, which at normal priority competed with the event loop at the start of every large
 * reload. Messages posted meanwhile wait in the port until the handler listens.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * On Linux this thread lowers its own priority to the lowest (nice 19), so on a busy machine the event loop gets the
 * core first and a large reload simply takes longer. (setpriority applies to the one thread whose id it is given;
 * /proc/thread-self names this thread.) Elsewhere, or without permission, the priority stays as it is.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // not Linux, or not allowed: parse at normal priority
  }
}

lowerPriority();
await import("./parse-worker-handler.js");
