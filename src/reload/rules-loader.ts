/**
 * Reads the rule files of `$RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/$RUNTIME_APPDIRECTORY/` the way envoyproxy/ratelimit's
 * runtime loader (lyft/goruntime, a `filepath.Walk`) finds them:
 *
 * - every regular file is a rule file, whatever its extension, and nested directories are read too;
 * - a symlink to a file is read through; a symlink to a directory is not followed (Walk does not follow links), which
 *   is why a Kubernetes ConfigMap's `..data` link is skipped while the timestamped `..2024_…` directory it points
 *   to is read - and why such mounts need RUNTIME_IGNOREDOTFILES=true;
 * - with `ignoreDotFiles`, files and directories whose name starts with `.` are skipped;
 * - a file that cannot be read is skipped with a warning, not a load error (the reference only logs it); so are
 *   FIFOs, sockets and devices, including behind a symlink, and a file swapped for one of those between the
 *   listing and the read: every file is opened non-blocking and checked with fstat on the open descriptor, so a
 *   FIFO can never block the loader (issue 12: a `fifo.yaml` froze every later reload);
 * - symlink loops fail stat with ELOOP and are skipped; a symlink to a directory is never followed, so the walk
 *   cannot loop;
 * - size limits: a file over RULES_LIMITS.maxFileBytes, or files over maxTotalBytes together, reject the load with
 *   a ConfigError naming the file; nothing larger is read into memory.
 *
 * One deliberate difference: Markdown files (`*.md`) are documentation, not rules, and are skipped, so a README can
 * sit next to the rules (as `config/README.md` does in the quick start); the reference would try to parse it.
 *
 * Files are returned sorted by name, so loads are reproducible (the reference's order is a Go map's, i.e. random).
 * Names are paths relative to the rules directory with `/` separators, e.g. `config.yaml` or `team-a/limits.yaml`.
 *
 * Files are returned as bytes, each in an ArrayBuffer of its own: the service hashes them in slices (content-hash.ts)
 * and moves them to the parse worker, which decodes them (reload/parse-off-loop.ts). Decoding, hashing and copying
 * megabytes of text on the serving thread held calls up for tens of milliseconds at every reload and every rescan
 * (issue 12).
 */
import { constants, type Dirent } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ConfigError } from "../domain/errors.js";
import type { RuleFile } from "../rules/schema.js";

/** Documented limits on what a load reads (README "Rule files"). */
export const RULES_LIMITS = Object.freeze({
  /** Bytes in one rule file. */
  maxFileBytes: 4 * 1024 * 1024,
  /** Bytes in all rule files together. */
  maxTotalBytes: 16 * 1024 * 1024,
  /** Rules (descriptor items) in all files together. */
  maxRules: 100_000,
});

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

/** A rule file as read. From readRuleFiles, `bytes` own their ArrayBuffer (nothing else uses it): it can be moved. */
export interface RuleFileBytes {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The text of a file read by readRuleFiles (UTF-8; invalid sequences become U+FFFD, as `readFile(path, "utf8")`). */
export function decodeRuleFile(file: RuleFileBytes): RuleFile {
  const { bytes } = file;
  return { name: file.name, text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8") };
}

export interface LoadedRuleFiles {
  readonly files: readonly RuleFileBytes[];
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
  const files: RuleFileBytes[] = [];
  const skipped: SkippedFile[] = [];
  await walk(dir, "", ignoreDotFiles, files, skipped);
  let total = 0;
  for (const f of files) {
    total += f.bytes.byteLength;
    if (total > RULES_LIMITS.maxTotalBytes) {
      throw new ConfigError(f.name, "", `rule files together exceed ${RULES_LIMITS.maxTotalBytes} bytes`);
    }
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, skipped };
}

async function walk(
  dir: string,
  prefix: string,
  ignoreDotFiles: boolean,
  files: RuleFileBytes[],
  skipped: SkippedFile[],
) {
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

async function readOne(path: string, name: string, link: boolean, files: RuleFileBytes[], skipped: SkippedFile[]) {
  if (link) {
    try {
      if ((await stat(path)).isDirectory()) {
        skipped.push({ file: name, reason: "symlink to a directory (not followed, as the reference's loader)" });
        return;
      }
    } catch (err) {
      skipped.push({ file: name, reason: `cannot read (${errorCode(err)})` });
      return;
    }
  }
  let bytes: Uint8Array;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer. What was opened is checked, not what was listed.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        skipped.push({ file: name, reason: "not a regular file" });
        return;
      }
      if (info.size > RULES_LIMITS.maxFileBytes) {
        throw new ConfigError(name, "", `file is ${info.size} bytes, over the limit of ${RULES_LIMITS.maxFileBytes}`);
      }
      bytes = owned(await handle.readFile());
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    skipped.push({ file: name, reason: `cannot read (${errorCode(err)})` });
    return;
  }
  if (bytes.byteLength > RULES_LIMITS.maxFileBytes) {
    throw new ConfigError(name, "", `file is over the limit of ${RULES_LIMITS.maxFileBytes} bytes`);
  }
  files.push({ name, bytes });
}

/**
 * `buf` if it is alone in its ArrayBuffer, else a copy that is: a small Buffer may sit in Node's shared pool, and an
 * empty one may be shared.
 */
function owned(buf: Buffer): Uint8Array {
  return soleView(buf) ? buf : new Uint8Array(buf);
}

/** True when `bytes` spans its whole (non-empty) ArrayBuffer, which may then be transferred without harm to others. */
export function soleView(bytes: Uint8Array): boolean {
  return bytes.byteLength > 0 && bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
}

function isDocumentation(name: string): boolean {
  return name.toLowerCase().endsWith(".md");
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : String(err);
}
