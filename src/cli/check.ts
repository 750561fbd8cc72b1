/**
 * `sluice check [dir]`: loads a rule directory as the server does (the same file walk, RUNTIME_IGNOREDOTFILES and
 * MERGE_DOMAIN_CONFIG) and reports every problem. Each file is compiled on its own first, so one bad file does not
 * hide the errors of the others (within one file, the first error is reported, as the server reports it); then all
 * files together, which finds what is only wrong across files (a domain defined twice). Prints the /rlconfig dump on
 * success.
 */
import { resolve } from "node:path";
import { ConfigError } from "../domain/errors.js";
import type { RuleSet } from "../domain/types.js";
import { decodeRuleFile, readRuleFiles, rulesDirectory } from "../reload/rules-loader.js";
import { type ConfigWarning, compileRuleSet, type RuleFile } from "../rules/index.js";
import type { RuntimeSettings } from "../settings/settings.js";

export interface CheckOutput {
  out(text: string): void;
  err(text: string): void;
}

/** Returns the exit code: 0 valid, 1 any error. */
export async function runCheck(dir: string | undefined, runtime: RuntimeSettings, io: CheckOutput): Promise<number> {
  const directory = dir === undefined ? rulesDirectory(runtime) : resolve(dir);
  let files: readonly RuleFile[];
  try {
    const loaded = await readRuleFiles(directory, runtime.ignoreDotFiles);
    files = loaded.files.map(decodeRuleFile);
    for (const s of loaded.skipped) io.err(`warning: ${s.file}: skipped: ${s.reason}\n`);
  } catch (err) {
    io.err(`error: ${(err as Error).message}\n`);
    return 1;
  }
  const errors: string[] = [];
  const onWarning = (w: ConfigWarning): void => io.err(`warning: ${w.file}: ${w.path}: ${w.detail}\n`);
  for (const file of files) {
    const err = compileError(() => compileRuleSet([file], { mergeDomainConfig: true, onWarning }));
    if (err !== undefined) errors.push(err);
  }
  let ruleSet: RuleSet | undefined;
  if (errors.length === 0) {
    const err = compileError(() => {
      ruleSet = compileRuleSet(files, { mergeDomainConfig: runtime.mergeDomainConfig });
    });
    if (err !== undefined) errors.push(err);
  }
  if (errors.length > 0 || ruleSet === undefined) {
    for (const e of errors) io.err(`error: ${e}\n`);
    io.err(`${errors.length} error${errors.length === 1 ? "" : "s"} in ${directory}\n`);
    return 1;
  }
  io.out(ruleSet.dump());
  io.err(
    `ok: ${files.length} file${files.length === 1 ? "" : "s"}, ${ruleSet.domains.length} domains in ${directory}\n`,
  );
  return 0;
}

function compileError(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}
