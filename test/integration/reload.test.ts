import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/domain/errors.js";
import { createRulesWatcher, type RulesWatcher, type RulesWatcherOptions } from "../../src/reload/rules-watcher.js";
import { createLogSink, type LogLine } from "../helpers/log-sink.js";

/** The brief's bound: a change on disk is visible to current() within 1 s. */
const VISIBLE_WITHIN_MS = 1000;

let tmp: string;
let watcher: RulesWatcher | undefined;
let lines: LogLine[];

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "sluice-reload-"));
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  rmSync(tmp, { recursive: true, force: true });
});

function rules(domain: string, rpu: number): string {
  return `domain: ${domain}\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;
}

function write(rel: string, text: string): void {
  const path = join(tmp, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  // Write-then-rename, as editors and config tools do, so a reload never sees half a file.
  writeFileSync(`${path}.tmp~`, text);
  renameSync(`${path}.tmp~`, path);
}

async function startWatcher(
  opts: Partial<RulesWatcherOptions> & Pick<RulesWatcherOptions, "root">,
): Promise<RulesWatcher> {
  const sink = createLogSink("debug");
  lines = sink.lines;
  watcher = createRulesWatcher({
    subdirectory: "",
    appDirectory: "config",
    ignoreDotFiles: false,
    watchRoot: false,
    mergeDomainConfig: false,
    log: sink.logger,
    debounceMs: 100,
    ...opts,
  });
  await watcher.start();
  return watcher;
}

function limitOf(w: RulesWatcher, domain: string): number | undefined {
  return w.current()?.findRule(domain, [{ key: "k", value: "v" }])?.limits[0]?.requestsPerUnit;
}

/** Polls until `probe` holds; fails if it takes longer than VISIBLE_WITHIN_MS. Returns the time it took. */
async function visibleWithin(probe: () => boolean): Promise<number> {
  const started = Date.now();
  while (!probe()) {
    if (Date.now() - started > VISIBLE_WITHIN_MS) throw new Error(`not visible within ${VISIBLE_WITHIN_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

describe("createRulesWatcher()", () => {
  it("loads the rules directory on start and logs the version and domain count", async () => {
    write("config/a.yaml", rules("alpha", 5));
    write("config/nested/b.yaml", rules("beta", 6));
    const w = await startWatcher({ root: tmp });
    expect(w.current()?.domains).toEqual(["alpha", "beta"]);
    expect(limitOf(w, "beta")).toBe(6);
    expect(w.stats).toEqual({ loadSuccess: 1, loadError: 0, watchError: 0 });
    expect(w.lastError).toBeUndefined();
    const loaded = lines.find((l) => l.msg === "rules loaded");
    expect(loaded).toMatchObject({ level: 30, component: "rules-watcher", domains: 2, files: 2, reason: "startup" });
    expect(loaded?.["version"]).toBe(w.current()?.version);
    // Where the load's time went, for operators chasing a slow reload.
    for (const phase of ["readMs", "parseMs"]) expect(loaded?.[phase]).toBeGreaterThanOrEqual(0);
  });

  it("reloads 1,500 rules; a mistake in the last of them fails the reload, keeps the rules, and the next edit loads", async () => {
    const many = (rpu: number): string =>
      `domain: many\ndescriptors:\n${Array.from({ length: 1_500 }, (_, i) => `  - key: k\n    value: v${i}\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`).join("")}`;
    write("config/many.yaml", many(1));
    const w = await startWatcher({ root: tmp });
    write("config/many.yaml", many(2));
    const limit = (): number | undefined =>
      w.current()?.findRule("many", [{ key: "k", value: "v1499" }])?.limits[0]?.requestsPerUnit;
    expect(limit()).toBe(1);
    await visibleWithin(() => limit() === 2);
    const loads = lines.filter((l) => l.msg === "rules loaded");
    expect(loads.map((l) => l["reason"] === "startup")).toEqual([true, false]);
    // A mistake in the last item fails the reload; the rules stay, and the parser is free for the next reload.
    write("config/many.yaml", `${many(3)}  - key: k\n    value: v0\n`);
    await visibleWithin(() => lines.some((l) => l.msg === "rules reload failed; keeping previous rules"));
    expect(lines.find((l) => l.msg === "rules reload failed; keeping previous rules")?.["problem"]).toBe(
      "many.yaml: descriptors[1500]: duplicate descriptor composite key 'many.k_v0'",
    );
    expect(limit()).toBe(2);
    write("config/many.yaml", many(4));
    await visibleWithin(() => limit() === 4);
  });

  it("stays without rules after a bad start, then loads once the file is fixed", async () => {
    write(
      "config/a.yaml",
      "domain: alpha\ndescriptors:\n  - key: k\n    rate_limit: {unit: minutes, requests_per_unit: 1}\n",
    );
    const w = await startWatcher({ root: tmp });
    expect(w.current()).toBeUndefined();
    expect(w.stats).toEqual({ loadSuccess: 0, loadError: 1, watchError: 0 });
    expect(w.lastError).toBeInstanceOf(ConfigError);
    const failed = lines.find((l) => l.level === 50);
    expect(failed).toMatchObject({ msg: "rules load failed; no rules loaded, answering UNAVAILABLE", file: "a.yaml" });
    // One clear message, no stack trace: a rule-file mistake is the user's, not a program error.
    expect(failed?.["problem"]).toBe(
      'a.yaml: descriptors[0].rate_limit.unit: "minutes" is not one of second|minute|hour|day|week|month|year',
    );
    expect(failed).not.toHaveProperty("err");
    expect(JSON.stringify(failed)).not.toContain("    at ");
    write("config/a.yaml", rules("alpha", 7));
    await visibleWithin(() => limitOf(w, "alpha") === 7);
    expect(w.lastError).toBeUndefined();
  });

  it("reloads an edit in place with watchRoot=false within 1 s", async () => {
    write("config/a.yaml", rules("alpha", 1));
    const w = await startWatcher({ root: tmp });
    const before = w.current();
    write("config/a.yaml", rules("alpha", 2));
    await visibleWithin(() => limitOf(w, "alpha") === 2);
    expect(w.current()?.version).not.toBe(before?.version);
    expect(w.stats.loadSuccess).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ["a plain write", (p: string, t: string) => writeFileSync(p, t)],
    ["write-and-rename", (p: string, t: string) => write(p.slice(tmp.length + 1), t)],
  ])("sees %s, a new file, a nested file and a removal", async (_how, save) => {
    write("config/a.yaml", rules("alpha", 1));
    const w = await startWatcher({ root: tmp });
    save(join(tmp, "config/a.yaml"), rules("alpha", 3));
    await visibleWithin(() => limitOf(w, "alpha") === 3);
    write("config/b.yaml", rules("beta", 4));
    await visibleWithin(() => limitOf(w, "beta") === 4);
    write("config/deep/er/c.yaml", rules("gamma", 5));
    await visibleWithin(() => limitOf(w, "gamma") === 5);
    unlinkSync(join(tmp, "config/b.yaml"));
    await visibleWithin(() => w.current()?.hasDomain("beta") === false);
  });

  it("keeps serving the last good set after a bad edit, counts and logs it, and recovers", async () => {
    write("config/a.yaml", rules("alpha", 1));
    write("config/b.yaml", rules("beta", 2));
    const w = await startWatcher({ root: tmp });
    const good = w.current();
    write("config/b.yaml", "domain: beta\ndescriptors:\n  - key: k\n    ratelimit: {}\n");
    await visibleWithin(() => w.stats.loadError === 1);
    expect(w.current()).toBe(good);
    expect(limitOf(w, "alpha")).toBe(1);
    const failed = lines.find((l) => l.level === 50);
    expect(failed).toMatchObject({
      msg: "rules reload failed; keeping previous rules",
      file: "b.yaml",
      previousVersion: good?.version,
    });
    write("config/b.yaml", rules("beta", 9));
    await visibleWithin(() => limitOf(w, "beta") === 9);
  });

  it("reloads on a symlink swap of the root with watchRoot=true, then follows edits in the new target", async () => {
    write("v1/ratelimit/config/a.yaml", rules("alpha", 1));
    write("v2/ratelimit/config/a.yaml", rules("alpha", 2));
    symlinkSync("v1", join(tmp, "current"));
    const w = await startWatcher({ root: join(tmp, "current"), subdirectory: "ratelimit", watchRoot: true });
    expect(limitOf(w, "alpha")).toBe(1);
    // The reference's deployment recipe: ln -sfn v2 tmp && mv -T tmp current
    symlinkSync("v2", join(tmp, "next"));
    renameSync(join(tmp, "next"), join(tmp, "current"));
    await visibleWithin(() => limitOf(w, "alpha") === 2);
    // The directory watcher moved to v2: an edit there reloads; an edit in the old target does not matter.
    write("v2/ratelimit/config/a.yaml", rules("alpha", 22));
    await visibleWithin(() => limitOf(w, "alpha") === 22);
  });

  it("follows a Kubernetes ConfigMap update (..data swap) with ignoreDotFiles", async () => {
    const dir = join(tmp, "data/ratelimit/config");
    write("data/ratelimit/config/..2024_01/config.yaml", rules("k8s", 1));
    symlinkSync("..2024_01", join(dir, "..data"));
    symlinkSync("..data/config.yaml", join(dir, "config.yaml"));
    const w = await startWatcher({ root: join(tmp, "data"), subdirectory: "ratelimit", ignoreDotFiles: true });
    expect(limitOf(w, "k8s")).toBe(1);
    // What the kubelet does: new timestamped dir, new ..data_tmp link, rename over ..data, delete the old dir.
    write("data/ratelimit/config/..2024_02/config.yaml", rules("k8s", 2));
    symlinkSync("..2024_02", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    rmSync(join(dir, "..2024_01"), { recursive: true });
    await visibleWithin(() => limitOf(w, "k8s") === 2);
  });

  it("rejects a ConfigMap loaded without ignoreDotFiles as a duplicate domain, with a hint", async () => {
    const dir = join(tmp, "data/config");
    write("data/config/..2024_01/config.yaml", rules("k8s", 1));
    symlinkSync("..2024_01", join(dir, "..data"));
    symlinkSync("..data/config.yaml", join(dir, "config.yaml"));
    const w = await startWatcher({ root: join(tmp, "data") });
    expect(w.current()).toBeUndefined();
    expect(w.lastError?.message).toMatch(/duplicate domain 'k8s'/);
    expect(lines.find((l) => l.level === 50)?.["hint"]).toMatch(/RUNTIME_IGNOREDOTFILES=true/);
  });

  it("waits for a missing rules directory and loads it when it appears", async () => {
    const w = await startWatcher({ root: tmp });
    expect(w.current()).toBeUndefined();
    expect(w.lastError?.message).toBe(`${join(tmp, "config")}: cannot read the rules directory (ENOENT)`);
    write("config/a.yaml", rules("late", 3));
    // Noticed by a 1 s poll (no directory to watch yet), so allow one poll period on top of the usual bound.
    const started = Date.now();
    while (limitOf(w, "late") !== 3) {
      if (Date.now() - started > 2500) throw new Error("the new directory was not loaded");
      await new Promise((r) => setTimeout(r, 20));
    }
    write("config/a.yaml", rules("late", 4));
    await visibleWithin(() => limitOf(w, "late") === 4);
  });

  it("keeps watching when the rules directory is deleted and re-created", async () => {
    write("config/a.yaml", rules("alpha", 1));
    const w = await startWatcher({ root: tmp });
    rmSync(join(tmp, "config"), { recursive: true });
    await visibleWithin(() => w.stats.loadError === 1);
    expect(limitOf(w, "alpha")).toBe(1);
    write("config/a.yaml", rules("alpha", 2));
    // The new directory may appear between polls, so allow one poll period on top of the usual bound.
    const started = Date.now();
    while (limitOf(w, "alpha") !== 2) {
      if (Date.now() - started > 2500) throw new Error("the re-created directory was not loaded");
      await new Promise((r) => setTimeout(r, 20));
    }
    write("config/a.yaml", rules("alpha", 3));
    await visibleWithin(() => limitOf(w, "alpha") === 3);
  });

  it("loads an empty directory as an empty rule set", async () => {
    mkdirSync(join(tmp, "config"));
    const w = await startWatcher({ root: tmp });
    expect(w.current()?.domains).toEqual([]);
  });

  it("logs skipped files and rule warnings at warn", async () => {
    write("config/a.yaml", "domain: alpha\nkey: misplaced\n");
    symlinkSync("nowhere.yaml", join(tmp, "config/dangling.yaml"));
    await startWatcher({ root: tmp });
    const warns = lines.filter((l) => l.level === 40).map((l) => [l.msg, l["file"]]);
    expect(warns).toEqual([
      ["rule file skipped", "dangling.yaml"],
      ["rule file warning", "a.yaml"],
    ]);
  });

  it("stops reloading after close()", async () => {
    write("config/a.yaml", rules("alpha", 1));
    const w = await startWatcher({ root: tmp });
    await w.close();
    write("config/a.yaml", rules("alpha", 2));
    await new Promise((r) => setTimeout(r, 400));
    expect(limitOf(w, "alpha")).toBe(1);
    expect(w.stats.loadSuccess).toBe(1);
    await w.close();
  });
});
