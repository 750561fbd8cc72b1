/**
 * The rules watcher under hostile directory changes (issue 12): each case reproduces a change that once stopped
 * directory-triggered reloads for good, then proves that an ordinary in-place edit still reloads within 1 s.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../src/domain/errors.js";
import { createRuleParser } from "../../src/reload/parse-off-loop.js";
import { RULES_LIMITS, type RuleFileBytes, readRuleFiles } from "../../src/reload/rules-loader.js";
import { createRulesWatcher, type RulesWatcher } from "../../src/reload/rules-watcher.js";
import { compileRuleSet } from "../../src/rules/compile.js";
import type { RuleFile } from "../../src/rules/schema.js";
import { createLogSink, type LogLine } from "../helpers/log-sink.js";
import { loopTurnsDuring } from "../helpers/loop-turns.js";
import { threadNices } from "../helpers/procfs.js";
import { testWatcherOptions } from "../helpers/rules-watcher.js";

let tmp: string;
let dir: string;
let watcher: RulesWatcher | undefined;
let lines: LogLine[];
const servers: Server[] = [];

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "sluice-reload-hostile-"));
  dir = join(tmp, "config");
  mkdirSync(dir);
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  for (const s of servers.splice(0)) s.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Rule files as the loader hands them to the parser: UTF-8 bytes, each in an ArrayBuffer of its own. */
const asBytes = (files: readonly RuleFile[]): RuleFileBytes[] =>
  files.map((f) => ({ name: f.name, bytes: new TextEncoder().encode(f.text) }));

const rules = (rpu: number): string =>
  `domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: ${rpu}}\n`;

async function start(watchRoot = true): Promise<RulesWatcher> {
  writeFileSync(join(dir, "config.yaml"), rules(1));
  const sink = createLogSink("debug");
  lines = sink.lines;
  watcher = createRulesWatcher(testWatcherOptions(tmp, watchRoot, sink.logger));
  await watcher.start();
  expect(limit()).toBe(1);
  return watcher;
}

const limit = (): number | undefined =>
  watcher?.current()?.findRule("d", [{ key: "k", value: "v" }])?.limits[0]?.requestsPerUnit;

async function until(probe: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!probe()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets a burst of changes settle: waits for the reload they trigger. */
async function settled(): Promise<void> {
  const before = (watcher?.stats.loadSuccess ?? 0) + (watcher?.stats.loadError ?? 0);
  await until(() => (watcher?.stats.loadSuccess ?? 0) + (watcher?.stats.loadError ?? 0) > before, 5_000);
  await new Promise((r) => setTimeout(r, 200));
}

/** The proof after each case: an ordinary in-place edit of config.yaml is loaded within 1 s. */
async function editReloadsWithin1s(rpu: number): Promise<void> {
  writeFileSync(join(dir, "config.yaml"), rules(rpu));
  await until(() => limit() === rpu, 1_000);
}

describe("rules watcher under hostile changes", () => {
  it("survives config.yaml replaced by a directory that is then moved out of the rules directory", async () => {
    await start();
    rmSync(join(dir, "config.yaml"));
    mkdirSync(join(dir, "config.yaml"));
    await new Promise((r) => setTimeout(r, 300));
    renameSync(join(dir, "config.yaml"), join(tmp, "moved-away"));
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(join(dir, "config.yaml"), rules(3));
    await until(() => limit() === 3, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    await editReloadsWithin1s(4);
    await editReloadsWithin1s(5);
  });

  it("skips a FIFO and a subdirectory of symlink loops with one log line each, then keeps reloading", async () => {
    await start();
    const sub = join(dir, "sub");
    mkdirSync(sub);
    symlinkSync("..", join(sub, "up"));
    symlinkSync(dir, join(sub, "root"));
    symlinkSync("loop.yaml", join(sub, "loop.yaml"));
    execFileSync("mkfifo", [join(dir, "fifo.yaml")]);
    await settled();
    const skipped = lines.filter((l) => l.msg === "rule file skipped").map((l) => `${l["file"]}: ${l["reason"]}`);
    expect(skipped).toContain("fifo.yaml: not a regular file");
    expect(skipped.some((s) => s.startsWith("sub/loop.yaml: cannot read (ELOOP)"))).toBe(true);
    expect(skipped.some((s) => s.startsWith("sub/up: symlink to a directory"))).toBe(true);
    rmSync(sub, { recursive: true });
    rmSync(join(dir, "fifo.yaml"));
    await settled();
    await editReloadsWithin1s(6);
  });

  it("skips a unix socket and a symlink to a FIFO, then keeps reloading", async () => {
    await start();
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(join(dir, "sock.yaml"), () => r()));
    execFileSync("mkfifo", [join(tmp, "outside-fifo")]);
    symlinkSync(join(tmp, "outside-fifo"), join(dir, "via-link.yaml"));
    await settled();
    const skipped = lines.filter((l) => l.msg === "rule file skipped").map((l) => l["file"]);
    expect(skipped).toEqual(expect.arrayContaining(["sock.yaml", "via-link.yaml"]));
    await editReloadsWithin1s(7);
  });

  it("skips an unreadable file (a dangling symlink) and keeps reloading", async () => {
    await start();
    symlinkSync(join(tmp, "nowhere.yaml"), join(dir, "dangling.yaml"));
    await editReloadsWithin1s(8);
    expect(lines.some((l) => l.msg === "rule file skipped" && l["file"] === "dangling.yaml")).toBe(true);
  });

  it("finds a change no watch event reports with the content-hash rescan, counts and logs it", async () => {
    writeFileSync(join(dir, "config.yaml"), rules(1));
    const sink = createLogSink("debug");
    lines = sink.lines;
    // A watcher that hears nothing: only the rescan can find the change.
    watcher = createRulesWatcher(testWatcherOptions(tmp, false, sink.logger, { rescanMs: 100, watchDirectory: false }));
    await watcher.start();
    expect(limit()).toBe(1);
    writeFileSync(join(dir, "config.yaml"), rules(9));
    await until(() => limit() === 9, 2_000);
    expect(watcher.stats.watchError).toBe(1);
    expect(
      lines.filter((l) => l.msg === "rules changed without a watch event; reloading with a new watcher"),
    ).toHaveLength(1);
  });
});

describe("rule size limits", () => {
  it("rejects a file over the per-file byte limit, naming it, without reading it", async () => {
    writeFileSync(join(dir, "big.yaml"), Buffer.alloc(RULES_LIMITS.maxFileBytes + 1, 0x20));
    const err = await readRuleFiles(dir, false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe("big.yaml");
    expect((err as ConfigError).message).toMatch(/over the limit of 4194304/);
  });

  it("rejects rule files holding more rules than the limit, naming the file", async () => {
    const parser = createRuleParser();
    try {
      const many = `domain: d\ndescriptors:\n${Array.from({ length: 5 }, (_, i) => `  - key: k${i}\n`).join("")}`;
      const err = await parser.load(asBytes([{ name: "many.yaml", text: many }]), 4, false).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toBe("many.yaml: rule files together hold more than 4 rules");
    } finally {
      await parser.close();
    }
  });

  it("parses and compiles a large load off the event loop; the rules come back packed, compiled as calls need them", async () => {
    const parser = createRuleParser();
    try {
      // 2 files; 2,500 top-level items each, every third with two children.
      const files = [0, 1].map((f) => {
        let text = `domain: d${f}\ndescriptors:\n`;
        for (let i = 0; i < 2_500; i++) {
          text += `  - key: k\n    value: v${i}\n    rate_limit: {unit: second, requests_per_unit: ${i + 1}}\n`;
          if (i % 3 === 0) text += "    descriptors:\n      - key: a\n      - key: b\n";
        }
        return { name: `f${f}.yaml`, text };
      });
      const {
        result: { ruleSet, warnings },
        turns,
      } = await loopTurnsDuring(() => parser.load(asBytes(files), RULES_LIMITS.maxRules, false));
      // The loop kept turning while the worker parsed and compiled (hundreds of milliseconds of work).
      expect(turns).toBeGreaterThanOrEqual(10);
      expect(warnings).toEqual([]);
      const compiled = compileRuleSet(files, { mergeDomainConfig: false });
      expect(ruleSet.version).toBe(compiled.version);
      expect(ruleSet.domains).toEqual(["d0", "d1"]);
      // Nothing compiled on this thread until a call asks.
      expect((ruleSet as unknown as { compiledItems(): number }).compiledItems()).toBe(0);
      expect(ruleSet.findRule("d1", [{ key: "k", value: "v2499" }])?.limits[0]?.requestsPerUnit).toBe(2_500);
      expect((ruleSet as unknown as { compiledItems(): number }).compiledItems()).toBe(1);
      expect(ruleSet.dump()).toBe(compiled.dump());
    } finally {
      await parser.close();
    }
  });

  it("runs loads one at a time, in order; a failed load neither blocks the next nor leaves anything behind", async () => {
    const parser = createRuleParser();
    try {
      const good = (n: number) => [{ name: "s.yaml", text: rules(n) }];
      const bad = [{ name: "s.yaml", text: "domain: s\ndescriptors:\n  - key: k\n  - key: k\n" }];
      const order: string[] = [];
      const loads = [
        parser.load(asBytes(good(1)), RULES_LIMITS.maxRules, false).then(() => order.push("1")),
        parser.load(asBytes(bad), RULES_LIMITS.maxRules, false).catch((e: unknown) => {
          order.push("bad");
          return e;
        }),
        parser.load(asBytes(good(3)), RULES_LIMITS.maxRules, false).then((r) => {
          order.push("3");
          return r;
        }),
      ] as const;
      const [, err, third] = await Promise.all(loads);
      expect(order).toEqual(["1", "bad", "3"]);
      expect((err as ConfigError).message).toBe("s.yaml: descriptors[1]: duplicate descriptor composite key 's.k'");
      expect(third.ruleSet.version).toBe(compileRuleSet(good(3), { mergeDomainConfig: false }).version);
    } finally {
      await parser.close();
    }
  });

  it("moves a file's bytes to the worker, but copies a view that shares its buffer (Node's Buffer pool stays intact)", async () => {
    const parser = createRuleParser();
    try {
      const own = new TextEncoder().encode("domain: a\ndescriptors:\n  - key: k\n");
      // Buffer.from of a short string is a slice of Node's shared 8 KiB pool.
      const pooled = Buffer.from("domain: b\ndescriptors:\n  - key: k\n");
      expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
      const neighbour = Buffer.from("still readable");
      const loaded = await parser.load(
        [
          { name: "a.yaml", bytes: own },
          { name: "dir/b.yaml", bytes: pooled },
        ],
        RULES_LIMITS.maxRules,
        false,
      );
      expect(loaded.ruleSet.domains).toEqual(["a", "b"]);
      expect(own.byteLength).toBe(0); // transferred: detached here
      expect(pooled.toString()).toBe("domain: b\ndescriptors:\n  - key: k\n");
      expect(neighbour.toString()).toBe("still readable");
      // Where each domain came from, for the holder's conflict errors.
      expect([loaded.origin("a"), loaded.origin("b"), loaded.origin("c")]).toEqual(["a.yaml", "dir/b.yaml", "?"]);
    } finally {
      await parser.close();
    }
  });

  it.runIf(process.platform === "linux")(
    "parses at the lowest priority without lowering the serving thread's",
    async () => {
      const before = threadNices().get(process.pid);
      const parser = createRuleParser();
      try {
        await parser.load(asBytes([{ name: "a.yaml", text: rules(1) }]), RULES_LIMITS.maxRules, false);
        const nices = threadNices();
        const niced = [...nices].filter(([, nice]) => nice === 19).map(([tid]) => tid);
        expect(niced.length).toBeGreaterThanOrEqual(1);
        expect(niced).not.toContain(process.pid);
        expect(nices.get(process.pid)).toBe(before);
      } finally {
        await parser.close();
      }
    },
  );

  it.runIf(process.platform === "linux")(
    "keeps its worker after a large load read item by item, and replaces it after one read whole",
    async () => {
      // Over 1 MiB of rules (RECYCLE_AFTER_BYTES). Indented by one space, the same rules are valid YAML, but not the
      // layout that is read item by item, so that file is read whole.
      let text = "domain: big\ndescriptors:\n";
      for (let i = 0; i < 14_000; i++) {
        text += `  - key: user\n    value: u${i}\n    rate_limit: { unit: minute, requests_per_unit: 100 }\n`;
      }
      expect(text.length).toBeGreaterThan(1024 * 1024);
      const indented = text.replace(/^/gm, " ").trimEnd();
      const parser = createRuleParser();
      const load = (body: string) =>
        parser.load(asBytes([{ name: "big.yaml", text: body }]), RULES_LIMITS.maxRules, false);
      /** The worker: the threads of this process at nice 19. */
      const niced = (): number[] => [...threadNices()].filter(([, nice]) => nice === 19).map(([tid]) => tid);
      try {
        await load(text);
        const first = niced();
        expect(first).toHaveLength(1);
        await load(rules(1));
        expect(niced()).toEqual(first);
        // Read whole: the worker is terminated once this load is over, and the next load starts a new one.
        await load(indented);
        await load(rules(2));
        await vi.waitFor(() => {
          const now = niced();
          expect(now).toHaveLength(1);
          expect(now).not.toEqual(first);
        });
      } finally {
        await parser.close();
      }
    },
  );
});
