/**
 * Parses and compiles rule files in a child process (parse-process.ts), so a load never stalls serving: the event
 * loop only receives the result. A process rather than a worker thread because of priority: the child lowers every
 * one of its threads to nice 19 on Linux, its garbage collector's helper threads included. A worker thread shares the
 * process's garbage-collection helpers with the serving thread, at normal priority, and a large load kept them busy for
 * about half a core-second per 50,000 rules, which on a small machine took CPU from calls (issue 12; BENCHMARKS.md).
 *
 * One child is kept between loads (starting one costs tens of milliseconds, and hundreds from TypeScript sources) and
 * loads go to it one at a time; after a load of more than RECYCLE_AFTER_BYTES it exits, which returns all the memory a
 * large parse took.
 *
 * The result crosses as packed rules (rules/packed-format.ts): a few typed arrays (about 7 MB for 50,000 rules), which
 * the IPC channel copies in one piece outside the JavaScript heap. So a reload costs the event loop neither parsed
 * objects nor the compile of them (tens of MB of objects, whose garbage collection held calls up for tens of
 * milliseconds at a time): each top-level item is compiled when a call first needs it (rules/packed-rule-set.ts).
 *
 * From TypeScript sources (the tests) the child loads tsx first; the built service runs the .js.
 */
import { type ChildProcess, fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ConfigError } from "../domain/errors.js";
import type { RuleSet } from "../domain/types.js";
import type { PackedRules } from "../rules/packed-format.js";
import { ruleSetFromPacked } from "../rules/packed-rule-set.js";
import type { ConfigWarning } from "../rules/schema.js";
import type { DomainOrigin } from "./holder.js";
import type { RuleFileBytes } from "./rules-loader.js";

export interface LoadRequest {
  readonly files: readonly RuleFileBytes[];
  readonly maxRules: number;
  /** MERGE_DOMAIN_CONFIG. */
  readonly mergeDomainConfig: boolean;
}

/** What the child sends back for a LoadRequest. */
export type LoadReply =
  | { readonly ok: true; readonly packed: PackedRules; readonly warnings: ConfigWarning[] }
  | { readonly ok: false; readonly configError: { file: string; path: string; detail: string } }
  | { readonly ok: false; readonly message: string };

export interface LoadedRules {
  /** A packed rule set: its items are compiled as calls first need them. */
  readonly ruleSet: RuleSet;
  readonly warnings: readonly ConfigWarning[];
  /** The file each domain came from (the first, for merged domains). */
  readonly origin: DomainOrigin;
}

export interface RuleParser {
  /**
   * Decodes, parses and compiles `files` in the child process. Rejects with the compile's ConfigError (the same as
   * compileRuleSet's), or an Error if the child failed. Loads run one at a time, in order.
   */
  load(files: readonly RuleFileBytes[], maxRules: number, mergeDomainConfig: boolean): Promise<LoadedRules>;
  /** Stops the child. */
  close(): Promise<void>;
}

const RECYCLE_AFTER_BYTES = 1024 * 1024;
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const CHILD_PATH = fileURLToPath(new URL(FROM_SOURCE ? "./parse-process.ts" : "./parse-process.js", import.meta.url));

function startChild(): ChildProcess {
  // tsx's loader, by absolute URL so that it does not depend on the working directory.
  const execArgv = FROM_SOURCE ? ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href] : [];
  // `advanced`: typed arrays cross as they are. stdout is not ours to write to (the service's JSON logs); a crash's
  // stack trace goes to stderr.
  return fork(CHILD_PATH, [], { serialization: "advanced", execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
}

/** Stops a child and waits for it to be gone. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Creates the parser; the child starts with the first parse. */
export function createRuleParser(): RuleParser {
  let child: ChildProcess | undefined;
  /** Settles when the last load is over: the next one starts after it. */
  let queue: Promise<unknown> = Promise.resolve();

  /** Sends `message` and waits for the one answer, or rejects if the child fails first. */
  const ask = <T>(c: ChildProcess, message: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        c.off("message", onMessage);
        c.off("error", onError);
        c.off("exit", onExit);
      };
      const onMessage = (answer: unknown): void => {
        cleanup();
        resolve(answer as T);
      };
      const onError = (err: Error): void => {
        cleanup();
        if (child === c) child = undefined;
        void stop(c);
        reject(err);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        if (child === c) child = undefined;
        reject(new Error(`rule parser exited (${signal ?? `code ${code}`}) before answering`));
      };
      c.once("message", onMessage);
      c.once("error", onError);
      c.once("exit", onExit);
      c.send(message as never, (err) => {
        if (err) onError(err);
      });
    });

  const run = async (request: LoadRequest): Promise<LoadedRules> => {
    const c = child ?? startChild();
    child = c;
    const reply = await ask<LoadReply>(c, request);
    if (!reply.ok) {
      if ("configError" in reply) {
        const e = reply.configError;
        throw new ConfigError(e.file, e.path, e.detail);
      }
      throw new Error(`rule parser failed: ${reply.message}`);
    }
    const { domains } = reply.packed;
    const origin = (domain: string): string => domains.find((d) => d.name === domain)?.files[0] ?? "?";
    return { ruleSet: ruleSetFromPacked(reply.packed), warnings: reply.warnings, origin };
  };

  const recycleAfter = async (bytes: number): Promise<void> => {
    if (bytes > RECYCLE_AFTER_BYTES && child !== undefined) {
      const c = child;
      child = undefined;
      await stop(c);
    }
  };

  const load = (
    files: readonly RuleFileBytes[],
    maxRules: number,
    mergeDomainConfig: boolean,
  ): Promise<LoadedRules> => {
    const bytes = files.reduce((n, f) => n + f.bytes.byteLength, 0);
    const done = queue.then(() => run({ files, maxRules, mergeDomainConfig }));
    // The next load waits for this one, and for the child's recycling if this one was large.
    queue = done.then(
      () => recycleAfter(bytes),
      () => recycleAfter(bytes),
    );
    return done;
  };

  return {
    load,
    async close() {
      await queue;
      const c = child;
      child = undefined;
      if (c !== undefined) await stop(c);
    },
  };
}
