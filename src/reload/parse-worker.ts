/**
 * Worker-thread entry (parse-off-loop.ts): parses and shape-checks rule files, counts their rules, and posts the
 * plain RawRuleFile data back, one reply per request. YAML parsing is the expensive part of a load (about 1 s per
 * 10,000 rules), and on the main thread it would stall every call for that long (issue 12).
 */
import { parentPort } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import { type ConfigWarning, parseRuleFile, type RawDescriptor } from "../rules/schema.js";
import type { ParseReply, ParseRequest } from "./parse-off-loop.js";

function parseAll({ files, maxRules }: ParseRequest): ParseReply {
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
    return { ok: true, parsed, warnings };
  } catch (err) {
    return err instanceof ConfigError
      ? { ok: false, configError: { file: err.file, path: err.path, detail: err.detail } }
      : { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

parentPort?.on("message", (request: ParseRequest) => parentPort?.postMessage(parseAll(request)));
