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
 *
 * The watcher cannot die silently (issue 12):
 * - every reload re-creates the directory watcher before reading the files (a watch can stay attached to a
 *   directory that was renamed away, e.g. config.yaml replaced by a directory that is then moved out); a change
 *   in between is caught by the read that follows;
 * - a watch error is logged and counted (`config_watch_error`) and re-creates the watcher through a reload;
 * - every DIRECTORY_CHECK_MS one stat compares the rules directory's identity (device and inode) with the watched
 *   one: a directory moved away and replaced by another at the same path (`mv config config.old && mv config.new
 *   config`, or RUNTIME_ROOT itself replaced without the root watch) leaves every inotify watch on the old inodes,
 *   and chokidar, re-reading the path, finds the same file names and reports nothing. The check reloads within a
 *   second, with a new watcher;
 * - every RESCAN_INTERVAL_MS the files are read again and hashed; a content hash that differs from the last load's
 *   means the watcher missed a change: logged, counted, reloaded (with a fresh watcher). Its cost is bounded by
 *   the loader's size limits (rules-loader.ts RULES_LIMITS);
 * - a reload still running after STUCK_AFTER_MS is logged, counted and abandoned (its result is discarded), so one
 *   read that never returns cannot block every later reload;
 * - files that cannot be rule files (FIFOs, sockets, symlink loops, unreadable files) are skipped by the loader
 *   with one log line each and never block a load; parsing runs in a worker thread (parse-off-loop.ts).
 */

import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { type FSWatcher as DirectoryWatcher, watch as watchDirectory } from "chokidar";
import type { Logger } from "pino";
import { ConfigError } from "../domain/errors.js";
import type { RuleSource } from "../domain/ports.js";
import type { RuntimeSettings } from "../settings/settings.js";
import { contentHash } from "./content-hash.js";
import { createRuleHolder, type RuleHolder } from "./holder.js";
import { createRuleParser } from "./parse-off-loop.js";
import { RULES_LIMITS, readRuleFiles, rulesDirectory } from "./rules-loader.js";

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
  /** Period of the content-hash rescan; 5 s by default. */
  readonly rescanMs?: number;
  /**
   * false: no directory watcher, changes are found by the rescan alone (file systems without inotify events, such
   * as some network mounts; and the rescan's own test). Default true.
   */
  readonly watchDirectory?: boolean;
}

/** A RuleSource backed by the rule directory. */
export interface RulesWatcher extends RuleSource {
  /** Loads once and starts watching. Never rejects because of bad rules (they are logged and counted). Once only. */
  start(): Promise<void>;
  /** Stops watching and waits for an in-flight reload. Idempotent. */
  close(): Promise<void>;
  /** Reference counters `config_load_success` / `config_load_error`. */
  readonly stats: {
    readonly loadSuccess: number;
    readonly loadError: number;
    /** Watch errors, changes found only by the rescan, and abandoned stuck reloads (`config_watch_error`). */
    readonly watchError: number;
  };
  /** The error of the last load, undefined after a good one. */
  readonly lastError: Error | undefined;
}

/** How often to look for a rules directory that does not exist (yet). */
const MISSING_DIRECTORY_POLL_MS = 1000;
const RESCAN_INTERVAL_MS = 5_000;
/** How often the rules directory's identity is compared with the watched one (one stat). */
const DIRECTORY_CHECK_MS = 1_000;
const STUCK_AFTER_MS = 30_000;

/** Creates a watcher; nothing is read or watched until `start()`. */
export function createRulesWatcher(opts: RulesWatcherOptions): RulesWatcher {
  const log = opts.log.child({ component: "rules-watcher" });
  const root = resolve(opts.root);
  const dir = rulesDirectory(opts);
  const debounceMs = opts.debounceMs ?? 150;
  const holder = opts.holder ?? createRuleHolder();
  const feed = holder.register("file");
  /** Watch errors, changes found only by the rescan, abandoned stuck reloads (`config_watch_error`). */
  let watchError = 0;
  const parser = createRuleParser();
  const rescanMs = opts.rescanMs ?? RESCAN_INTERVAL_MS;
  /** Content hash of what the last load read; the rescan compares against it. */
  let loadedHash: string | undefined;
  /** Bumped when a stuck reload is abandoned: its late result is dropped. */
  let generation = 0;
  let runningSince = 0;
  let rescanTimer: NodeJS.Timeout | undefined;
  let directoryTimer: NodeJS.Timeout | undefined;
  let rescanning = false;
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
    const gen = generation;
    let names: readonly string[] = [];
    const previousVersion = holder.current()?.version;
    const t0 = performance.now();
    try {
      const { files, skipped } = await readRuleFiles(dir, opts.ignoreDotFiles);
      const hash = await contentHash(files);
      const t1 = performance.now();
      if (gen !== generation) return;
      loadedHash = hash;
      names = files.map((f) => f.name);
      for (const s of skipped) log.warn({ file: s.file, reason: s.reason }, "rule file skipped");
      // Decoded, parsed and compiled in a worker, which the files' bytes move to; the main thread takes the packed
      // result (parse-off-loop.ts).
      const loaded = await parser.load(files, RULES_LIMITS.maxRules, opts.mergeDomainConfig);
      const { ruleSet: next, warnings } = loaded;
      if (gen !== generation) return;
      for (const w of warnings) log.warn({ file: w.file, path: w.path, detail: w.detail }, "rule file warning");
      const published = feed.publish(next, loaded.origin);
      const summary = {
        version: next.version,
        previousVersion: published.previousVersion,
        domains: next.domains.length,
        files: files.length,
        // Where a load's time went: reading and hashing the files, then parsing and compiling them (worker thread).
        readMs: Math.round(t1 - t0),
        parseMs: Math.round(performance.now() - t1),
      };
      log.info({ ...summary, reason }, "rules loaded");
    } catch (caught) {
      if (gen !== generation) return;
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

  /** The periodic safety net: a stuck reload is abandoned, a change the watcher missed is reloaded. */
  async function rescan(): Promise<void> {
    if (closed || rescanning) return;
    if (running !== undefined) {
      if (performance.now() - runningSince > STUCK_AFTER_MS) {
        watchError++;
        log.error({ dir, stuckMs: Math.round(performance.now() - runningSince) }, "rules reload stuck; abandoned");
        generation++;
        running = undefined;
        watchedDirId = undefined; // re-create the watcher too
        void run("reload was stuck");
      }
      return;
    }
    rescanning = true;
    try {
      const { files } = await readRuleFiles(dir, opts.ignoreDotFiles);
      const hash = await contentHash(files);
      if (running === undefined && debounce === undefined && !closed && hash !== loadedHash) {
        watchError++;
        log.warn({ dir }, "rules changed without a watch event; reloading with a new watcher");
        void run("rescan found a change");
      }
    } catch {
      // The directory is missing or over a size limit: the next load reports it (and loads set the hash).
    } finally {
      rescanning = false;
    }
  }

  /** A rules directory that is no longer the watched one (moved away and replaced) reloads with a new watcher. */
  async function checkDirectory(): Promise<void> {
    if (closed || running !== undefined || debounce !== undefined || watchedDirId === undefined) return;
    const id = await directoryId(dir);
    if (id === watchedDirId || closed || running !== undefined || debounce !== undefined) return;
    log.info({ dir }, "rules directory moved or replaced; re-creating the watcher");
    schedule("rules directory replaced");
  }

  /** Re-creates the directory watcher when the directory is new (first start, root swap, re-created directory). */
  async function syncDirectoryWatcher(): Promise<void> {
    const id = await directoryId(dir);
    const old = dirWatcher;
    dirWatcher = undefined;
    watchedDirId = id;
    await old?.close();
    if (id === undefined || closed || opts.watchDirectory === false) return;
    const w = watchDirectory(dir, { ignoreInitial: true, followSymlinks: false, persistent: true });
    w.on("all", (event, path) => {
      if (log.isLevelEnabled("debug")) log.debug({ event, path }, "rules directory changed");
      schedule("directory changed");
    });
    w.on("error", (err) => {
      watchError++;
      log.error({ err, dir }, "rules directory watch error; re-creating the watcher");
      schedule("watch error");
    });
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
    runningSince = performance.now();
    const gen = generation;
    const mine: Promise<void> = (async () => {
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
      } while (again && !closed && gen === generation);
    })().finally(() => {
      if (running === mine) running = undefined;
    });
    running = mine;
    return mine;
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
      return { ...holder.stats, watchError };
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
      rescanTimer = setInterval(() => void rescan(), rescanMs);
      rescanTimer.unref();
      directoryTimer = setInterval(() => void checkDirectory(), DIRECTORY_CHECK_MS);
      directoryTimer.unref();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(debounce);
      clearTimeout(poll);
      clearInterval(rescanTimer);
      clearInterval(directoryTimer);
      rootWatcher?.close();
      await running;
      await dirWatcher?.close();
      dirWatcher = undefined;
      await parser.close();
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
