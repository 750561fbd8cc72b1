/**
 * The node flags a checkout starts the service with: those of the `exec node … dist/main.js` line of its launcher,
 * docker/ratelimit, which the image runs as /bin/ratelimit and `npm start` runs too. The benches start the service
 * the way its users do, so that a flag there (e.g. --single-threaded-gc) is measured; an older checkout (`--base`)
 * is run with its own. SLUICE_NODE_FLAGS in the bench's environment reaches the launcher's line as it does the image's.
 */
import fs from "node:fs";
import path from "node:path";

/** @param {string} root a checkout; @returns {string[]} */
export function serviceNodeFlags(root) {
  const launcher = path.join(root, "docker", "ratelimit");
  if (!fs.existsSync(launcher)) return [];
  const line = /^exec node (.*?)\s*dist\/main\.js/m.exec(fs.readFileSync(launcher, "utf8"));
  if (line === null) throw new Error(`${launcher}: no "exec node … dist/main.js" line`);
  // `${NAME:-}` words are expanded from the bench's environment, as the shell would (SLUICE_NODE_FLAGS).
  const expand = (word) => {
    const v = /^\$\{(\w+):-\}$/.exec(word);
    return v === null ? [word] : (process.env[v[1]] ?? "").split(/\s+/);
  };
  return line[1]
    .split(/\s+/)
    .flatMap(expand)
    .filter((a) => a !== "");
}
