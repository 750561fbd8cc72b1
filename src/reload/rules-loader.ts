/**
 * Reads the rule files of `$RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/$RUNTIME_APPDIRECTORY/` the way envoyproxy/ratelimit's
 * runtime loader (lyft/goruntime, a `filepath.Walk`) finds them:
 *
 * - every regular file is a rule file, whatever its extension, and nested directories are read too;
 * - a symlink to a file is read through; a symlink to a directory is not followed (Walk does not follow links), which
 *   is why a Kubernetes ConfigMap's `..data` link is skipped while the timestamped `..2024_…` directory it points
 *   to is read - and why such mounts need RUNTIME_IGNOREDOTFILES=true;
 * - with `ignoreDotFiles`, files and directories whose name starts with `.` are skipped;
 * - a file that cannot be read is skipped with a warning, not a load error (the reference only logs it).
 *
 * One deliberate difference: Markdown files (`*.md`) are documentation, not rules, and are skipped, so a README can
 * sit next to the rules (as `config/README.md` does in the quick start); the reference would try to parse it.
 *
 * Files are returned sorted by name, so loads are reproducible (the reference's order is a Go map's, i.e. random).
 * Names are paths relative to the rules directory with `/` separators, e.g. `config.yaml` or `team-a/limits.yaml`.
 */
import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ConfigError } from "../domain/errors.js";
import type { RuleFile } from "../rules/schema.js";

/** Where the rule files live, as the RUNTIME_* settings give it. */
export interface RulesLocation {
  readonly root: string;
  readonly subdirectory: string;
  readonly appDirectory: string;
}

/** A file the walk saw but did not load, and why (logged at warn by the watcher). */
export interface SkippedFile {
  readonly file: string;
  readonly reason: string;
}

export interface LoadedRuleFiles {
  readonly files: readonly RuleFile[];
  readonly skipped: readonly SkippedFile[];
}

/** The absolute rules directory: ROOT/SUBDIRECTORY/APPDIRECTORY, relative parts resolved against the working dir. */
export function rulesDirectory(location: RulesLocation): string {
  return resolve(location.root, location.subdirectory, location.appDirectory);
}

/**
 * Reads every rule file under `dir`. Rejects with ConfigError (naming the directory) only when the directory
 * itself cannot be read, e.g. it does not exist.
 */
export async function readRuleFiles(dir: string, ignoreDotFiles: boolean): Promise<LoadedRuleFiles> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new ConfigError(dir, "", "the rules directory is not a directory");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(dir, "", `cannot read the rules directory (${errorCode(err)})`);
  }
  const files: RuleFile[] = [];
  const skipped: SkippedFile[] = [];
  await walk(dir, "", ignoreDotFiles, files, skipped);
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, skipped };
}

async function walk(dir: string, prefix: string, ignoreDotFiles: boolean, files: RuleFile[], skipped: SkippedFile[]) {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    skipped.push({ file: prefix, reason: `cannot list directory (${errorCode(err)})` });
    return;
  }
  for (const entry of entries) {
    if (ignoreDotFiles && entry.name.startsWith(".")) continue;
    if (isDocumentation(entry.name)) continue;
    const path = join(dir, entry.name);
    const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      await walk(path, name, ignoreDotFiles, files, skipped);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      await readOne(path, name, entry.isSymbolicLink(), files, skipped);
    } else {
      skipped.push({ file: name, reason: "not a regular file" });
    }
  }
}

async function readOne(path: string, name: string, link: boolean, files: RuleFile[], skipped: SkippedFile[]) {
  try {
    if (link) {
      const target = await stat(path);
      if (target.isDirectory()) {
        skipped.push({ file: name, reason: "symlink to a directory (not followed, as the reference's loader)" });
        return;
      }
      if (!target.isFile()) {
        skipped.push({ file: name, reason: "not a regular file" });
        return;
      }
    }
    files.push({ name, text: await readFile(path, "utf8") });
  } catch (err) {
    skipped.push({ file: name, reason: `cannot read (${errorCode(err)})` });
  }
}

function isDocumentation(name: string): boolean {
  return name.toLowerCase().endsWith(".md");
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String(err);
}
