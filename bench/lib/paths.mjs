/** Repository paths used by the bench scripts, resolved from this file so the cwd does not matter. */

import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BENCH_DIR = path.join(REPO_ROOT, "bench");
export const RESULTS_DIR = path.join(BENCH_DIR, "results");
export const RULES_ROOT = path.join(BENCH_DIR, "config");

/** @param {string} rel path inside dist/ */
export function distPath(rel) {
  return path.join(REPO_ROOT, "dist", rel);
}
