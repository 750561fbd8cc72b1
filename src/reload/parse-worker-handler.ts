/**
 * The rule parser's work, loaded by its worker thread's entry (parse-worker.ts) once that thread runs at low
 * priority: decodes, parses, shape-checks and compiles rule files one at a time (one item at a time where the layout
 * allows), counts their rules, and hands the main thread the packed rules (rules/pack.ts), their buffers transferred.
 * A load costs 0.1-0.2 s of CPU per 10,000 rules read item by item, 0.3-0.5 s read whole (V8's helper threads
 * included; bench/rule-load.mjs), which on the main thread would hold up every call (issue 12).
 */
import { parentPort } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import { packRuleFiles } from "../rules/pack.js";
import { transferList } from "../rules/packed-format.js";
import type { RuleFile } from "../rules/schema.js";
import type { LoadReply, LoadRequest } from "./parse-off-loop.js";
import { decodeRuleFile } from "./rules-loader.js";

/** The request's files, each decoded only when the packer reaches it (so one file's text is held at a time). */
function* decoded(request: LoadRequest): Generator<RuleFile> {
  for (const bytes of request.files) yield decodeRuleFile(bytes);
}

function load(request: LoadRequest): { reply: LoadReply; transfer: ArrayBuffer[] } {
  try {
    const { packed, warnings, wholeChars } = packRuleFiles(decoded(request), {
      mergeDomainConfig: request.mergeDomainConfig,
      maxRules: request.maxRules,
    });
    return { reply: { ok: true, packed, warnings, wholeChars }, transfer: transferList(packed) };
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
