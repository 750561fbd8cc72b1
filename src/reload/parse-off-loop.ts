/**
 * Parses and compiles rule files in a worker thread (parse-worker.ts), so a load never stalls serving: the event loop
 * only receives the result. One worker is kept between loads and loads go to it one at a time. Kept, it starts no
 * isolate and compiles none of its code again: starting one costs tens of milliseconds, hundreds from TypeScript
 * sources, and the optimizing compiles of a new worker's code run on V8's helper threads at normal priority, beside
 * the serving thread (issue 12). Files in the usual layout are read one item at a time (rules/pack.ts) and leave
 * little behind; after a load that read more than RECYCLE_AFTER_BYTES of rules whole, the worker is thrown away,
 * which returns all the memory that parse took.
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
import type { ConfigWarning } from "../rules/schema.js";
import type { DomainOrigin } from "./holder.js";
import { type RuleFileBytes, soleView } from "./rules-loader.js";

export interface LoadRequest {
  /** Moved to the worker: each file's bytes that span their whole ArrayBuffer are transferred, detached here. */
  readonly files: readonly RuleFileBytes[];
  readonly maxRules: number;
  /** MERGE_DOMAIN_CONFIG. */
  readonly mergeDomainConfig: boolean;
}

/** What the worker posts back for a LoadRequest (the packed rules' buffers transferred). */
export type LoadReply =
  | {
      readonly ok: true;
      readonly packed: PackedRules;
      readonly warnings: ConfigWarning[];
      /** Characters of the files read whole rather than item by item (rules/pack.ts packRuleFiles). */
      readonly wholeChars: number;
    }
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
   * Decodes, parses and compiles `files` off the event loop; their bytes move to the worker (detached here). Rejects
   * with the compile's ConfigError (the same as compileRuleSet's), or an Error if the worker failed. Loads run one at a
   * time, in order.
   */
  load(files: readonly RuleFileBytes[], maxRules: number, mergeDomainConfig: boolean): Promise<LoadedRules>;
  /** Stops the worker. */
  close(): Promise<void>;
}

const RECYCLE_AFTER_BYTES = 1024 * 1024;
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./parse-worker.ts" : "./parse-worker.js", import.meta.url);

/**
 * The worker's young generation: read item by item, almost nothing a load allocates outlives it, so a small one costs
 * no more work, and the kept worker holds 8 MB there between loads instead of V8's default of up to 32 MB.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 8 };

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { resourceLimits: WORKER_LIMITS });
  // tsx/esm/api's ESM build (the `import` export; createRequire resolves the `require` one, which is not usable here).
  const tsxApi = new URL("./api/index.mjs", pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm"))).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(code, { eval: true, resourceLimits: WORKER_LIMITS });
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
  const ask = <T>(w: Worker, message: unknown, transfer: ArrayBuffer[]): Promise<T> =>
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
      w.postMessage(message, transfer);
    });

  /** The load's rules, and how much of them the worker read whole. */
  const run = async (request: LoadRequest): Promise<{ loaded: LoadedRules; wholeChars: number }> => {
    const w = worker ?? startWorker();
    worker = w;
    // Moved, not copied. Only a view that spans its whole buffer is moved, so a pooled Buffer (Buffer.from of a short
    // string) is copied instead: transferring it would detach Node's pool. A Set in case two views share one.
    const transfer = [
      ...new Set(request.files.filter((f) => soleView(f.bytes)).map((f) => f.bytes.buffer as ArrayBuffer)),
    ];
    const reply = await ask<LoadReply>(w, request, transfer);
    if (!reply.ok) {
      if ("configError" in reply) {
        const e = reply.configError;
        throw new ConfigError(e.file, e.path, e.detail);
      }
      throw new Error(`rule parser failed: ${reply.message}`);
    }
    const { domains } = reply.packed;
    const origin = (domain: string): string => domains.find((d) => d.name === domain)?.files[0] ?? "?";
    const loaded = { ruleSet: ruleSetFromPacked(reply.packed), warnings: reply.warnings, origin };
    return { loaded, wholeChars: reply.wholeChars };
  };

  const recycleAfter = async (wholeBytes: number): Promise<void> => {
    if (wholeBytes > RECYCLE_AFTER_BYTES && worker !== undefined) {
      const w = worker;
      worker = undefined;
      await w.terminate();
    }
  };

  const load = (
    files: readonly RuleFileBytes[],
    maxRules: number,
    mergeDomainConfig: boolean,
  ): Promise<LoadedRules> => {
    // How much the worker read whole: characters, which are bytes for ASCII rules. A failed load is taken to have
    // read every file whole (an error is reported from the whole read).
    let readWhole = files.reduce((n, f) => n + f.bytes.byteLength, 0);
    const done = queue.then(async () => {
      const { loaded, wholeChars } = await run({ files, maxRules, mergeDomainConfig });
      readWhole = wholeChars;
      return loaded;
    });
    // The next load waits for this one, and for the worker's recycling if this one read much whole.
    queue = done.then(
      () => recycleAfter(readWhole),
      () => recycleAfter(readWhole),
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
