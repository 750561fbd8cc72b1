/**
 * Parses rule files in a worker thread (parse-worker.ts), so a large load never stalls serving: the event loop
 * only waits for a message. One worker is kept between loads (starting one costs tens of milliseconds, and
 * hundreds from TypeScript sources) and loads go to it one at a time; after a load of more than
 * RECYCLE_AFTER_BYTES it is thrown away, which returns all the memory a large parse took.
 *
 * The parsed data comes back in chunks (pace.chunkRules: 1,000 rules at startup, 250 on a reload), each asked for
 * only when the compile needs it (ParsedStream.nextPart; compile.ts compileStreamInSlices), so receiving 50,000 rules
 * never holds calls up for more than a few milliseconds at a time, and each chunk is garbage as soon as it is
 * compiled: holding all of them until the compile began (37 MB for 50,000 rules) made every scavenge during the
 * compile copy them and pushed them into old space. Compiling stays on the main thread (the RuleSet holds closures
 * and cannot cross threads).
 *
 * From TypeScript sources (the tests) the worker registers tsx's loader first; the built service runs the .js.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ConfigError } from "../domain/errors.js";
import type { ParsedSource } from "../rules/compile.js";
import { type Pace, pauseBetweenSlices, STARTUP_PACE } from "../rules/pace.js";
import type { ConfigWarning, RawDescriptor, RuleFile } from "../rules/schema.js";

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

/** What the worker posts back for a ParseRequest; the descriptors then come in ParseChunks, one per `next` request. */
export type ParseReply =
  | {
      readonly ok: true;
      readonly files: { readonly name: string; readonly domain: string }[];
      /** The file of each chunk, in the order they will be handed out. */
      readonly chunkFiles: number[];
      readonly warnings: ConfigWarning[];
    }
  | { readonly ok: false; readonly configError: { file: string; path: string; detail: string } }
  | { readonly ok: false; readonly message: string };

/** A parse whose descriptors are received as the compile asks for them (compile.ts ParsedSource). */
export interface ParsedStream extends ParsedSource {
  readonly warnings: readonly ConfigWarning[];
  /** How many chunks the descriptors come in (pace.chunkRules rules each). */
  readonly chunks: number;
  /** Rejects with an Error if the worker fails before handing out the chunk asked for. */
  nextPart(index: number): Promise<readonly RawDescriptor[] | undefined>;
  /** Lets the worker go to the next parse: call it once the compile has finished or failed. */
  release(): void;
}

export interface RuleParser {
  /**
   * Parses `files` off the event loop; the descriptors are then received at `pace` as they are asked for. Rejects
   * with the parse's ConfigError, or an Error if the worker failed. Parses queue until the previous one is released.
   */
  stream(files: readonly RuleFile[], maxRules: number, pace?: Pace): Promise<ParsedStream>;
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
  /** Settles when the last parse has been released: the next one starts after it. */
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

  const open = async (files: readonly RuleFile[], maxRules: number, pace: Pace, done: () => void) => {
    const w = worker ?? startWorker();
    worker = w;
    const reply = await ask<ParseReply>(w, { files, maxRules, chunkRules: pace.chunkRules } satisfies ParseRequest);
    if (!reply.ok) {
      if ("configError" in reply) {
        const e = reply.configError;
        throw new ConfigError(e.file, e.path, e.detail);
      }
      throw new Error(`rule parser failed: ${reply.message}`);
    }
    const { chunkFiles } = reply;
    let next = 0;
    let released = false;
    const stream: ParsedStream = {
      files: reply.files,
      warnings: reply.warnings,
      chunks: chunkFiles.length,
      async nextPart(index) {
        if (released || chunkFiles[next] !== index) return undefined;
        // After other work (calls) has run: one chunk per pause (pace.ts).
        await pauseBetweenSlices(pace);
        const chunk = await ask<ParseChunk>(w, { next });
        next++;
        return chunk.descriptors;
      },
      release() {
        if (released) return;
        released = true;
        done();
      },
    };
    return stream;
  };

  const recycleAfter = async (files: readonly RuleFile[]): Promise<void> => {
    const bytes = files.reduce((n, f) => n + f.text.length, 0);
    if (bytes > RECYCLE_AFTER_BYTES && worker !== undefined) {
      const w = worker;
      worker = undefined;
      await w.terminate();
    }
  };

  const stream = (files: readonly RuleFile[], maxRules: number, pace: Pace = STARTUP_PACE): Promise<ParsedStream> => {
    let done = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      done = resolve;
    });
    const opened = queue.then(() => open(files, maxRules, pace, done));
    // The next parse waits until this one is released (or failed to open), and the worker recycled if it was large.
    queue = opened
      .then(
        () => released,
        () => undefined,
      )
      .then(() => recycleAfter(files));
    return opened;
  };

  return {
    stream,
    async close() {
      await queue;
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}
