/**
 * Parses and compiles rule files in a worker thread (parse-worker.ts), so a load never stalls serving: the event loop
 * only receives the result. One worker is kept between loads (starting one costs tens of milliseconds, and hundreds
 * from TypeScript sources) and loads go to it one at a time; after a load of more than RECYCLE_AFTER_BYTES it is
 * thrown away, which returns all the memory a large parse took.
 *
 * The result crosses as packed rules (rules/packed-format.ts): typed arrays moved, not copied, to this thread, outside
 * its heap. So a reload of 50,000 rules costs the event loop neither the structured clone of the parsed rules (about
 * 0.4 s for 50,000) nor the compile of them (tens of MB of objects, whose garbage collection held calls up for tens of
 * milliseconds at a time, issue 12): each top-level item is compiled when a call first needs it
 * (rules/packed-rule-set.ts).
 *
 * From TypeScript sources (the tests) the worker registers tsx's loader first; the built service runs the .js.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import type { RuleSet } from "../domain/types.js";
import type { PackedRules } from "../rules/packed-format.js";
import { ruleSetFromPacked } from "../rules/packed-rule-set.js";
import type { ConfigWarning, RuleFile } from "../rules/schema.js";

export interface LoadRequest {
  readonly files: readonly RuleFile[];
  readonly maxRules: number;
  /** MERGE_DOMAIN_CONFIG. */
  readonly mergeDomainConfig: boolean;
}

/** What the worker posts back for a LoadRequest (the packed rules' buffers transferred). */
export type LoadReply =
  | { readonly ok: true; readonly packed: PackedRules; readonly warnings: ConfigWarning[] }
  | { readonly ok: false; readonly configError: { file: string; path: string; detail: string } }
  | { readonly ok: false; readonly message: string };

export interface LoadedRules {
  /** A packed rule set: its items are compiled as calls first need them. */
  readonly ruleSet: RuleSet;
  readonly warnings: readonly ConfigWarning[];
}

export interface RuleParser {
  /**
   * Parses and compiles `files` off the event loop. Rejects with the compile's ConfigError (the same as
   * compileRuleSet's), or an Error if the worker failed. Loads run one at a time, in order.
   */
  load(files: readonly RuleFile[], maxRules: number, mergeDomainConfig: boolean): Promise<LoadedRules>;
  /** Stops the worker. */
  close(): Promise<void>;
}

const RECYCLE_AFTER_BYTES = 1024 * 1024;
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./parse-worker.ts" : "./parse-worker.js", import.meta.url);

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  // tsx/esm/api's ESM build (the `import` export; createRequire resolves the `require` one, which is not usable here).
  const tsxApi = new URL("./api/index.mjs", pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm"))).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(code, { eval: true });
}

/** Creates the parser; the worker starts with the first parse. */
export function createRuleParser(): RuleParser {
  let worker: Worker | undefined;
  /** Settles when the last load is over: the next one starts after it. */
  let queue: Promise<unknown> = Promise.resolve();

  /** Forgets a worker that failed or exited; the next parse starts a new one. */
  const drop = (w: Worker): void => {
    if (worker === w) worker = undefined;
    void w.terminate();
  };

  /** Sends `message` and waits for the one answer, or rejects if the worker fails first. */
  const ask = <T>(w: Worker, message: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
      };
      const onMessage = (answer: T): void => {
        cleanup();
        resolve(answer);
      };
      const onError = (err: Error): void => {
        cleanup();
        drop(w);
        reject(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        if (worker === w) worker = undefined;
        reject(new Error(`rule parser exited with code ${code} before answering`));
      };
      w.once("message", onMessage);
      w.once("error", onError);
      w.once("exit", onExit);
      w.postMessage(message);
    });

  const run = async (request: LoadRequest): Promise<LoadedRules> => {
    const w = worker ?? startWorker();
    worker = w;
    const reply = await ask<LoadReply>(w, request);
    if (!reply.ok) {
      if ("configError" in reply) {
        const e = reply.configError;
        throw new ConfigError(e.file, e.path, e.detail);
      }
      throw new Error(`rule parser failed: ${reply.message}`);
    }
    return { ruleSet: ruleSetFromPacked(reply.packed), warnings: reply.warnings };
  };

  const recycleAfter = async (files: readonly RuleFile[]): Promise<void> => {
    const bytes = files.reduce((n, f) => n + f.text.length, 0);
    if (bytes > RECYCLE_AFTER_BYTES && worker !== undefined) {
      const w = worker;
      worker = undefined;
      await w.terminate();
    }
  };

  const load = (files: readonly RuleFile[], maxRules: number, mergeDomainConfig: boolean): Promise<LoadedRules> => {
    const done = queue.then(() => run({ files, maxRules, mergeDomainConfig }));
    // The next load waits for this one, and for the worker's recycling if this one was large.
    queue = done.then(
      () => recycleAfter(files),
      () => recycleAfter(files),
    );
    return done;
  };

  return {
    load,
    async close() {
      await queue;
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}
