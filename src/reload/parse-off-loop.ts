/**
 * Parses rule files in a worker thread (parse-worker.ts), so a large load never stalls serving: the event loop
 * only waits for a message. One worker is kept between loads (starting one costs tens of milliseconds, and
 * hundreds from TypeScript sources) and loads go to it one at a time; after a load of more than
 * RECYCLE_AFTER_BYTES it is thrown away, which returns all the memory a large parse took. The parsed data comes back
 * in chunks (1,000 rules at startup, 250 on a reload), each asked for once the previous one has been received and
 * the event loop has had its pause (rules/pace.ts), so receiving 50,000 rules never holds calls up for more than a few
 * milliseconds at a time. Compiling the
 * parsed data into a RuleSet stays on the main thread, in slices (compile.ts; the RuleSet holds closures and cannot
 * cross threads).
 *
 * From TypeScript sources (the tests) the worker registers tsx's loader first; the built service runs the .js.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import { type Pace, pauseBetweenSlices, STARTUP_PACE } from "../rules/pace.js";
import type { ConfigWarning, RawDescriptor, RawRuleFile, RuleFile } from "../rules/schema.js";

export interface ParseRequest {
  readonly files: readonly RuleFile[];
  readonly maxRules: number;
  /** Rules (descriptor items, nested ones included) per chunk. */
  readonly chunkRules: number;
}

/** Part of a parsed file's top-level descriptors, in order. */
export interface ParseChunk {
  readonly file: number;
  readonly descriptors: RawDescriptor[];
}

/** What the worker posts back for a ParseRequest; the descriptors then come in `chunks` ParseChunks. */
export type ParseReply =
  | {
      readonly ok: true;
      readonly files: { readonly name: string; readonly domain: string }[];
      readonly chunks: number;
      readonly warnings: ConfigWarning[];
    }
  | { readonly ok: false; readonly configError: { file: string; path: string; detail: string } }
  | { readonly ok: false; readonly message: string };

export interface ParsedFiles {
  readonly parsed: readonly RawRuleFile[];
  readonly warnings: readonly ConfigWarning[];
  /** How many messages the parsed data came back in (pace.chunkRules rules each). */
  readonly chunks: number;
}

export interface RuleParser {
  /**
   * Parses `files` off the event loop and receives the result at `pace`; rejects with the parse's ConfigError, or an
   * Error if the worker failed.
   */
  parse(files: readonly RuleFile[], maxRules: number, pace?: Pace): Promise<ParsedFiles>;
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

  const once = (files: readonly RuleFile[], maxRules: number, pace: Pace): Promise<ParsedFiles> =>
    new Promise((resolve, reject) => {
      const w = worker ?? startWorker();
      worker = w;
      const cleanup = (): void => {
        w.off("message", onMessage);
        w.off("error", onError);
        w.off("exit", onExit);
      };
      let parsed: { name: string; domain: string; descriptors: RawDescriptor[] }[] = [];
      let warnings: ConfigWarning[] = [];
      let expected = 0;
      let received = 0;
      const askNext = (): void => {
        // After other work (calls) has run: one chunk per pause (pace.ts).
        void pauseBetweenSlices(pace).then(() => w.postMessage({ next: received }));
      };
      const onMessage = (message: ParseReply | ParseChunk): void => {
        if ("file" in message) {
          const target = parsed[message.file]?.descriptors;
          for (const d of message.descriptors) target?.push(d);
          received++;
          if (received < expected) askNext();
          else finish();
          return;
        }
        const reply = message;
        if (reply.ok) {
          parsed = reply.files.map((f) => ({ ...f, descriptors: [] }));
          warnings = reply.warnings;
          expected = reply.chunks;
          if (expected === 0) finish();
          else askNext();
          return;
        }
        cleanup();
        if ("configError" in reply) {
          const e = reply.configError;
          reject(new ConfigError(e.file, e.path, e.detail));
        } else reject(new Error(`rule parser failed: ${reply.message}`));
      };
      const finish = (): void => {
        cleanup();
        resolve({ parsed, warnings, chunks: expected });
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
      w.postMessage({ files, maxRules, chunkRules: pace.chunkRules } satisfies ParseRequest);
    });

  return {
    parse(files, maxRules, pace = STARTUP_PACE) {
      const run = queue.then(async () => {
        try {
          return await once(files, maxRules, pace);
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
