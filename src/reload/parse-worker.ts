/**
 * Worker-thread entry (parse-off-loop.ts): decodes, parses, shape-checks and compiles rule files, counts their rules, and
 * hands the main thread the packed rules (rules/pack.ts), their buffers transferred. Parsing is the expensive part of
 * a load (about 1 s per 10,000 rules) and compiling the next (its garbage collection above all); on the main thread
 * either would hold up every call (issue 12).
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import { packRules } from "../rules/pack.js";
import { transferList } from "../rules/packed-format.js";
import { type ConfigWarning, parseRuleFile, type RawDescriptor } from "../rules/schema.js";
import type { LoadReply, LoadRequest } from "./parse-off-loop.js";
import { decodeRuleFile } from "./rules-loader.js";

/**
 * Parsing must not take CPU from serving: on Linux this thread lowers its own priority to the lowest (nice 19), so on
 * a busy machine the event loop gets the core first and a large reload simply takes longer. (setpriority applies to
 * the one thread whose id it is given; /proc/thread-self names this thread.) Elsewhere, or without permission, the
 * priority stays as it is.
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

function load(request: LoadRequest): { reply: LoadReply; transfer: ArrayBuffer[] } {
  const { maxRules, mergeDomainConfig } = request;
  try {
    const files = request.files.map(decodeRuleFile);
    const warnings: ConfigWarning[] = [];
    let rules = 0;
    const count = (ds: readonly RawDescriptor[]): void => {
      for (const d of ds) {
        rules++;
        count(d.descriptors);
      }
    };
    const onWarning = (w: ConfigWarning): void => {
      warnings.push(w);
    };
    const parsed = files.map((file) => {
      const raw = parseRuleFile(file, onWarning);
      count(raw.descriptors);
      if (rules > maxRules) {
        throw new ConfigError(file.name, "", `rule files together hold more than ${maxRules} rules`);
      }
      return raw;
    });
    const packed = packRules(files, parsed, { mergeDomainConfig, onWarning });
    return { reply: { ok: true, packed, warnings }, transfer: transferList(packed) };
  } catch (err) {
    const reply: LoadReply =
      err instanceof ConfigError
        ? { ok: false, configError: { file: err.file, path: err.path, detail: err.detail } }
        : { ok: false, message: err instanceof Error ? err.message : String(err) };
    return { reply, transfer: [] };
  }
}

parentPort?.on("message", (request: LoadRequest) => {
  const { reply, transfer } = load(request);
  parentPort?.postMessage(reply, transfer);
});
