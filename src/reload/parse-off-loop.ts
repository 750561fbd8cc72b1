/**
 * Parses rule files in a worker thread (parse-worker.ts), so a large load never stalls serving: the event loop
 * only waits for a message. One worker is kept between loads (starting one costs tens of milliseconds, and
 * hundreds from TypeScript sources) and loads go to it one at a time; after a load of more than
 * RECYCLE_AFTER_BYTES it is thrown away, which returns all the memory a large parse took. Compiling the parsed
 * data into a RuleSet stays on the main thread (the RuleSet holds closures and cannot cross threads).
 *
 * From TypeScript sources (the tests) the worker registers tsx's loader first; the built service runs the .js.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import type { ConfigWarning, RawRuleFile, RuleFile } from "../rules/schema.js";

export interface ParseRequest {
  readonly files: readonly RuleFile[];
  readonly maxRules: number;
}

/** What the worker posts back. */
export type ParseReply =
  | { readonly ok: true; readonly parsed: RawRuleFile[]; readonly warnings: ConfigWarning[] }
  | { readonly ok: false; readonly configError: { file: string; path: string; detail: string } }
  | { readonly ok: false; readonly message: string };

export interface ParsedFiles {
  readonly parsed: readonly RawRuleFile[];
  readonly warnings: readonly ConfigWarning[];
}

export interface RuleParser {
  /** Parses `files` off the event loop; rejects with the parse's ConfigError, or an Error if the worker failed. */
  parse(files: readonly RuleFile[], maxRules: number): Promise<ParsedFiles>;
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
  let queue: Promise<unknown> = Promise.resolve();

  const once = (files: readonly RuleFile[], maxRules: number): Promise<ParsedFiles> =>
    new Promise((resolve, reject) => {
      const w = worker ?? startWorker();
      worker = w;
      const cleanup = (): void => {
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
      };
      const onMessage = (reply: ParseReply): void => {
        cleanup();
        if (reply.ok) resolve({ parsed: reply.parsed, warnings: reply.warnings });
        else if ("configError" in reply) {
          const e = reply.configError;
          reject(new ConfigError(e.file, e.path, e.detail));
        } else reject(new Error(`rule parser failed: ${reply.message}`));
      };
      const onError = (err: Error): void => {
        cleanup();
        if (worker === w) worker = undefined;
        void w.terminate();
        reject(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        if (worker === w) worker = undefined;
        reject(new Error(`rule parser exited with code ${code} before answering`));
      };
      w.on("message", onMessage);
      w.once("error", onError);
      w.once("exit", onExit);
      w.postMessage({ files, maxRules } satisfies ParseRequest);
    });

  return {
    parse(files, maxRules) {
      const run = queue.then(async () => {
        try {
          return await once(files, maxRules);
        } finally {
          const bytes = files.reduce((n, f) => n + f.text.length, 0);
          if (bytes > RECYCLE_AFTER_BYTES && worker !== undefined) {
            const w = worker;
            worker = undefined;
            await w.terminate();
          }
        }
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      await queue;
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}
