/**
 * The rules watcher when the watched directory itself is moved away and a new one takes its path (issue 12, the
 * "watch stays attached to a moved inode" mechanism). The chokidar watch (inotify) on the rules directory and on
 * config.yaml follow the old inodes into the moved directory; the move-self event makes chokidar re-read the path,
 * where it finds the same file names as before, so it emits nothing and no reload runs. Before the fix, nothing
 * ever re-created the watcher: no later edit of the new config.yaml was loaded (each case here fails at its first
 * wait on a2d97ac^). Now a once-a-second stat of the directory's identity finds the replacement, reloads and
 * re-creates the watcher, and in-place edits load within 1 s again. The content-hash rescan would also find it,
 * within 5 s; it is set far out here so that only the identity check can.
 *
 * The old directory is kept (as a deploy keeps the previous version): deleting it would fire the stale file watch
 * and hide the defect.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRulesWatcher, type RulesWatcher } from "../../src/reload/rules-watcher.js";
import { createLogSink, type LogLine } from "../helpers/log-sink.js";
import { testWatcherOptions } from "../helpers/rules-watcher.js";

/** The identity check runs every second; a replacement is found within that, the debounce and a small load. */
const REPLACED_BOUND_MS = 2_500;

let tmp: string;
let root: string;
let dir: string;
let watcher: RulesWatcher | undefined;
let lines: LogLine[];

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "sluice-reload-moved-"));
  root = join(tmp, "root");
  dir = join(root, "config");
  mkdirSync(dir, { recursive: true });
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  rmSync(tmp, { recursive: true, force: true });
});

const rules = (rpu: number): string =>
  `domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;

const limit = (): number | undefined =>
  watcher?.current()?.findRule("d", [{ key: "k", value: "v" }])?.limits[0]?.requestsPerUnit;

async function start(watchRoot: boolean): Promise<void> {
  writeFileSync(join(dir, "config.yaml"), rules(1));
  const sink = createLogSink("debug");
  lines = sink.lines;
  watcher = createRulesWatcher(testWatcherOptions(root, watchRoot, sink.logger, { rescanMs: 600_000 }));
  await watcher.start();
  expect(limit()).toBe(1);
}

/** Waits until `probe` holds; returns how long it took, or throws after `ms`. */
async function until(probe: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

/** After the change is picked up: ordinary in-place edits load within 1 s, as before the move. */
async function editsReloadWithin1s(from: number): Promise<void> {
  for (const rpu of [from, from + 1]) {
    writeFileSync(join(dir, "config.yaml"), rules(rpu));
    await until(() => limit() === rpu, 1_000);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Checks that the change was found by the directory's identity check (no watch event came), within its bound. */
const foundReplaced = (ms: number): void => {
  expect(ms).toBeLessThan(REPLACED_BOUND_MS);
  expect(lines.filter((l) => l.msg === "rules directory moved or replaced; re-creating the watcher")).toHaveLength(1);
  expect(watcher?.stats.watchError).toBe(0);
};

describe.each([true, false])("rules directory moved away and replaced (watchRoot=%s)", (watchRoot) => {
  it("loads a directory swap (new dir built aside, old renamed away, new renamed in), then in-place edits", async () => {
    await start(watchRoot);
    const staged = join(root, "config.next");
    mkdirSync(staged);
    writeFileSync(join(staged, "config.yaml"), rules(2));
    renameSync(dir, join(tmp, "config.previous"));
    renameSync(staged, dir);
    foundReplaced(await until(() => limit() === 2, REPLACED_BOUND_MS));
    await editsReloadWithin1s(3);
  });

  it("loads config.yaml written into a new directory made at the moved directory's path, then in-place edits", async () => {
    await start(watchRoot);
    renameSync(dir, join(tmp, "config.previous"));
    mkdirSync(dir);
    writeFileSync(join(dir, "config.yaml"), rules(2));
    foundReplaced(await until(() => limit() === 2, REPLACED_BOUND_MS));
    await editsReloadWithin1s(3);
  });

  it("loads an in-place edit after the directory was replaced by one with the same content", async () => {
    await start(watchRoot);
    renameSync(dir, join(tmp, "config.previous"));
    mkdirSync(dir);
    writeFileSync(join(dir, "config.yaml"), rules(1)); // same bytes: nothing to reload yet
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(join(dir, "config.yaml"), rules(2)); // the in-place edit
    foundReplaced(await until(() => limit() === 2, REPLACED_BOUND_MS));
    await editsReloadWithin1s(3);
  });
});

describe("RUNTIME_ROOT moved away and replaced", () => {
  it("watchRoot=false: loads the new root's rules, then in-place edits", async () => {
    await start(false);
    renameSync(root, join(tmp, "root.previous"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.yaml"), rules(2));
    foundReplaced(await until(() => limit() === 2, REPLACED_BOUND_MS));
    await editsReloadWithin1s(3);
  });
});
