import type { Logger } from "pino";
import type { RulesWatcherOptions } from "../../src/reload/rules-watcher.js";

/**
 * The rules-watcher options the reload tests share: rules in `<root>/config`, no dot-file filtering, no merging,
 * a 50 ms debounce; `extra` overrides any of them (e.g. the rescan period).
 */
export function testWatcherOptions(
  root: string,
  watchRoot: boolean,
  log: Logger,
  extra: Partial<RulesWatcherOptions> = {},
): RulesWatcherOptions {
  return {
    root,
    subdirectory: "",
    appDirectory: "config",
    ignoreDotFiles: false,
    watchRoot,
    mergeDomainConfig: false,
    log,
    debounceMs: 50,
    ...extra,
  };
}
