/**
 * Checks that need the file system, run by main before anything starts (and so before WORKERS are forked): every
 * file a setting names must be readable now. A TLS file that is missing would otherwise fail inside each worker,
 * which the supervisor retries five times before exiting 1; here it is an invalid setting: exit 2 with the message.
 */
import { SettingsError } from "./domain/errors.js";
import type { Settings } from "./settings/settings.js";
import { tlsOptions } from "./store/redis/client-options.js";

/** Throws SettingsError listing every unreadable file. */
export function checkStartupFiles(settings: Readonly<Settings>): void {
  const problems: string[] = [];
  for (const endpoint of [settings.redis?.main, settings.redis?.perSecond]) {
    if (endpoint?.tls === undefined) continue;
    try {
      tlsOptions(endpoint.tls);
    } catch (err) {
      if (!(err instanceof SettingsError)) throw err;
      for (const p of err.problems) if (!problems.includes(p)) problems.push(p);
    }
  }
  if (problems.length > 0) throw new SettingsError(problems);
}
