/**
 * Worker-thread entry (parse-off-loop.ts): parses and shape-checks rule files, counts their rules, and hands the
 * plain RawRuleFile data back in chunks the main thread asks for one at a time. YAML parsing is the expensive part of
 * a load (about 1 s per 10,000 rules), and on the main thread it would stall every call for that long (issue 12).
 * Receiving the parsed data costs the main thread too (a structured clone: about 0.4 s in one message for 50,000
 * rules), hence the chunks: each holds about the number of rules the request names (rules/pace.ts), and the main
 * thread asks for the next only after it has let other work run.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import { type ConfigWarning, parseRuleFile, type RawDescriptor } from "../rules/schema.js";
import type { ParseChunk, ParseReply, ParseRequest } from "./parse-off-loop.js";

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

/** The chunks of the last successful parse, handed out by `next` requests. */
let chunks: ParseChunk[] = [];

function parseAll({ files, maxRules, chunkRules }: ParseRequest): ParseReply {
  chunks = [];
  try {
    const warnings: ConfigWarning[] = [];
    let rules = 0;
    const count = (ds: readonly RawDescriptor[]): void => {
      for (const d of ds) {
        rules++;
        count(d.descriptors);
      }
    };
    const parsed = files.map((file) => {
      const raw = parseRuleFile(file, (w) => warnings.push(w));
      count(raw.descriptors);
      if (rules > maxRules) {
        throw new ConfigError(file.name, "", `rule files together hold more than ${maxRules} rules`);
      }
      return raw;
    });
    chunks = chunksOf(parsed, chunkRules);
    const heads = parsed.map(({ name, domain }) => ({ name, domain }));
    return { ok: true, files: heads, chunkFiles: chunks.map((c) => c.file), warnings };
  } catch (err) {
    return err instanceof ConfigError
      ? { ok: false, configError: { file: err.file, path: err.path, detail: err.detail } }
      : { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** Splits the files' top-level descriptor lists into chunks of about `chunkRules` rules (an item with its children). */
function chunksOf(
  parsed: readonly { readonly descriptors: readonly RawDescriptor[] }[],
  chunkRules: number,
): ParseChunk[] {
  const out: ParseChunk[] = [];
  const size = (d: RawDescriptor): number => d.descriptors.reduce((n, c) => n + size(c), 1);
  parsed.forEach((file, index) => {
    let current: RawDescriptor[] = [];
    let rules = 0;
    for (const d of file.descriptors) {
      current.push(d);
      rules += size(d);
      if (rules >= chunkRules) {
        out.push({ file: index, descriptors: current });
        current = [];
        rules = 0;
      }
    }
    if (current.length > 0) out.push({ file: index, descriptors: current });
  });
  return out;
}

parentPort?.on("message", (request: ParseRequest | { readonly next: number }) => {
  if ("next" in request) {
    const chunk = chunks[request.next];
    if (request.next === chunks.length - 1) chunks = []; // the last one: hold nothing between loads
    parentPort?.postMessage(chunk);
    return;
  }
  parentPort?.postMessage(parseAll(request));
});
