/**
 * Loads the rule directory, keeps the last good RuleSet, and reloads on change (envoyproxy/ratelimit's file
 * provider, on lyft/goruntime):
 *
 * - RUNTIME_WATCH_ROOT=true (default): a swap of the RUNTIME_ROOT symlink (`ln -sfn v2 tmp && mv -T tmp current`)
 *   reloads, as the reference's SymlinkRefresher does. We also watch the rules directory itself, which the reference
 *   does not do in this mode, so editing `config/config.yaml` in the quick start takes effect.
 * - RUNTIME_WATCH_ROOT=false: any create, write, remove or chmod inside the rules directory reloads (nested
 *   directories included; the reference watches only the top level).
 *
 * Events are debounced (150 ms by default) and a reload always reads every file again. One bad file rejects the whole
 * set: the error is logged and counted and the previous rules keep serving; before the first good load `current()`
 * stays undefined, so the service answers UNAVAILABLE rather than allowing everything. The rules, the last-good
 * logic and the counters live in the rule-set holder (holder.ts), shared with the other sources (xDS); the
 * watcher only produces the files and logs.
 *
 * Watching: chokidar for the rules directory (recursive, survives editors' write-and-rename and the ConfigMap
 * `..data` swap), plain `fs.watch` on the parent of RUNTIME_ROOT for the symlink swap (one directory, one name to
 * compare, nothing to gain from chokidar). After every swap the directory watcher is re-created, because an inotify
 * watch keeps following the directory the old symlink pointed to.
 */

import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { type FSWatcher as DirectoryWatcher, watch as watchDirectory } from "chokidar";
import type { Logger } from "pino";
import { ConfigError } from "../domain/errors.js";
import type { RuleSource } from "../domain/ports.js";
import { compileRuleSet } from "../rules/compile.js";
import type { ConfigWarning } from "../rules/schema.js";
import type { RuntimeSettings } from "../settings/settings.js";
import { createRuleHolder, type RuleHolder } from "./holder.js";
import { readRuleFiles, rulesDirectory } from "./rules-loader.js";

/** The parsed RUNTIME_* settings (and MERGE_DOMAIN_CONFIG), plus what only the watcher needs. */
export interface RulesWatcherOptions extends RuntimeSettings {
  readonly log: Logger;
  /** Quiet period after the last file event before reloading; 150 ms by default. */
  readonly debounceMs?: number;
  /**
   * The holder to publish into, shared with other sources; by default the watcher's own. `current()`, `stats`
   * and `lastError` are the holder's either way.
   */
  readonly holder?: RuleHolder;
}

/** A RuleSource backed by the rule directory. */
export interface RulesWatcher extends RuleSource {
  /** Loads once and starts watching. Never rejects because of bad rules (they are logged and counted). Once only. */
  start(): Promise<void>;
  /** Stops watching and waits for an in-flight reload. Idempotent. */
  close(): Promise<void>;
  /** Reference counters `config_load_success` / `config_load_error`. */
  readonly stats: { readonly loadSuccess: number; readonly loadError: number };
  /** The error of the last load, undefined after a good one. */
  readonly lastError: Error | undefined;
}

/** How often to look for a rules directory that does not exist (yet). */
const MISSING_DIRECTORY_POLL_MS = 1000;

/** Creates a watcher; nothing is read or watched until `start()`. */
export function createRulesWatcher(opts: RulesWatcherOptions): RulesWatcher {
  const log = opts.log.child({ component: "rules-watcher" });
  const root = resolve(opts.root);
  const dir = rulesDirectory(opts);
  const debounceMs = opts.debounceMs ?? 150;
  const holder = opts.holder ?? createRuleHolder();
  const feed = holder.register("file");
  let started = false;
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let rootWatcher: FSWatcher | undefined;
  let dirWatcher: DirectoryWatcher | undefined;
  let watchedDirId: string | undefined;

  async function load(reason: string): Promise<void> {
    let names: readonly string[] = [];
    const previousVersion = holder.current()?.version;
    try {
      const { files, skipped } = await readRuleFiles(dir, opts.ignoreDotFiles);
      names = files.map((f) => f.name);
      for (const s of skipped) log.warn({ file: s.file, reason: s.reason }, "rule file skipped");
      const warnings: ConfigWarning[] = [];
      const next = compileRuleSet(files, {
        mergeDomainConfig: opts.mergeDomainConfig,
        onWarning: (w) => warnings.push(w),
      });
      for (const w of warnings) log.warn({ file: w.file, path: w.path, detail: w.detail }, "rule file warning");
      const published = feed.publish(next, files);
      const summary = {
        version: next.version,
        previousVersion: published.previousVersion,
        domains: next.domains.length,
        files: files.length,
      };
      log.info({ ...summary, reason }, "rules loaded");
    } catch (caught) {
      const err = caught instanceof Error ? caught : new Error(String(caught));
      feed.reject(err);
      // A rule-file mistake is the user's, not the program's: its one message (file, YAML path, reason) is the whole
      // story, so it is logged as `problem` without a stack trace. Anything else keeps its stack under `err`.
      const cause = err instanceof ConfigError ? { file: err.file, problem: err.message } : { err };
      const fields = { ...cause, dir, previousVersion, hint: dotHint(err, names) };
      if (previousVersion === undefined) log.error(fields, "rules load failed; no rules loaded, answering UNAVAILABLE");
      else log.error(fields, "rules reload failed; keeping previous rules");
    }
  }

  /** Re-creates the directory watcher when the directory is new (first start, root swap, re-created directory). */
  async function syncDirectoryWatcher(): Promise<void> {
    const id = await directoryId(dir);
    if (id === watchedDirId && (id === undefined || dirWatcher !== undefined)) return;
    const old = dirWatcher;
    dirWatcher = undefined;
    watchedDirId = id;
    await old?.close();
    if (id === undefined || closed) return;
    const w = watchDirectory(dir, { ignoreInitial: true, followSymlinks: false, persistent: true });
    w.on("all", (event, path) => {
      if (log.isLevelEnabled("debug")) log.debug({ event, path }, "rules directory changed");
      schedule("directory changed");
    });
    w.on("error", (err) => log.warn({ err, dir }, "rules directory watch error"));
    await new Promise<void>((ready) => w.once("ready", () => ready()));
    dirWatcher = w;
  }

  function watchRootSymlink(): void {
    try {
      const name = basename(root);
      rootWatcher = watch(dirname(root), { persistent: true }, (_event, filename) => {
        if (filename === null || filename.toString() === name) schedule("root replaced");
      });
      rootWatcher.on("error", (err) => log.warn({ err, root }, "runtime root watch error"));
    } catch (err) {
      log.warn({ err, root }, "cannot watch the runtime root; symlink swaps will not reload");
    }
  }

  async function cycle(reason: string): Promise<void> {
    await syncDirectoryWatcher();
    if (closed) return;
    await load(reason);
    // A missing directory has no watcher to tell us it appeared: look again shortly.
    if (watchedDirId === undefined && !closed) {
      clearTimeout(poll);
      poll = setTimeout(() => schedule("waiting for the rules directory"), MISSING_DIRECTORY_POLL_MS);
      poll.unref();
    }
  }

  function run(reason: string): Promise<void> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      let why = reason;
      do {
        again = false;
        try {
          await cycle(why);
        } catch (err) {
          // load() handles every rule problem; this is a watcher failure (e.g. chokidar could not start).
          log.error({ err, dir }, "rules watcher failed");
        }
        why = "changed during reload";
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(reason: string): void {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      void run(reason);
    }, debounceMs);
    debounce.unref();
  }

  return {
    current: () => holder.current(),
    get stats() {
      return holder.stats;
    },
    get lastError() {
      return holder.lastError;
    },
    async start(): Promise<void> {
      if (started || closed) return;
      started = true;
      log.info({ dir, watchRoot: opts.watchRoot, ignoreDotFiles: opts.ignoreDotFiles }, "loading rules");
      if (opts.watchRoot) watchRootSymlink();
      await run("startup");
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      clearTimeout(poll);
      rootWatcher?.close();
      await running;
      await dirWatcher?.close();
      dirWatcher = undefined;
    },
  };
}

/** Identity of the directory a path resolves to now (follows symlinks), or undefined when it does not exist. */
async function directoryId(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A pointer for the classic Kubernetes ConfigMap mistake: with dot files allowed, the `..2024_…` copy of every file
 * loads next to the real one, so each domain appears twice.
 */
function dotHint(err: Error, names: readonly string[]): string | undefined {
  if (!(err instanceof ConfigError) || !err.detail.startsWith("duplicate")) return undefined;
  if (!names.some((n) => /(^|\/)\./.test(n))) return undefined;
  return "files under dot directories were loaded; for Kubernetes ConfigMap mounts set RUNTIME_IGNOREDOTFILES=true";
}
