/**
 * Child-process entry (parse-off-loop.ts): decodes, parses, shape-checks and compiles rule files one at a time, counts
 * their rules, and sends the serving process the packed rules (rules/pack.ts). A load costs about 0.2 s of CPU per
 * 10,000 rules, which on the serving thread would hold up every call (issue 12).
 */
import { readdirSync } from "node:fs";
import { setPriority } from "node:os";
import { ConfigError } from "../domain/errors.js";
import { packRuleFiles } from "../rules/pack.js";
import type { RuleFile } from "../rules/schema.js";
import type { LoadReply, LoadRequest } from "./parse-off-loop.js";
import { decodeRuleFile } from "./rules-loader.js";

/**
 * Parsing must not take CPU from serving: on Linux this process lowers every one of its threads to the lowest priority
 * (nice 19): the main thread, and the garbage collector's and compiler's helper threads, which exist from the start.
 * Threads started later inherit it. So on a busy machine the serving process gets the cores first and a large reload
 * simply takes longer. Elsewhere, or without permission, the priority stays as it is.
 */
function lowerPriority(): void {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return; // not Linux: parse at normal priority
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), 19);
    } catch {
      // not allowed, or the thread is gone
    }
  }
}
lowerPriority();

/** The request's files, each decoded only when the packer reaches it (so one file's text is held at a time). */
function* decoded(request: LoadRequest): Generator<RuleFile> {
  for (const bytes of request.files) yield decodeRuleFile(bytes);
}

function load(request: LoadRequest): LoadReply {
  try {
    const { packed, warnings } = packRuleFiles(decoded(request), {
      mergeDomainConfig: request.mergeDomainConfig,
      maxRules: request.maxRules,
    });
    return { ok: true, packed, warnings };
  } catch (err) {
    return err instanceof ConfigError
      ? { ok: false, configError: { file: err.file, path: err.path, detail: err.detail } }
      : { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

process.on("message", (request: LoadRequest) => {
  process.send?.(load(request));
});
// The serving process is gone (or closed the channel): nothing left to parse for.
process.on("disconnect", () => process.exit(0));
