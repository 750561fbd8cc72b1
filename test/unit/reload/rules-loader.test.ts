import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/domain/errors.js";
import { decodeRuleFile, readRuleFiles, rulesDirectory, soleView } from "../../../src/reload/rules-loader.js";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "sluice-loader-"));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function put(rel: string, text = `# ${rel}\n`): void {
  const path = join(tmp, rel);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

/** A Kubernetes ConfigMap volume: real files in a timestamped dot directory, reached through `..data`. */
function configMap(dir: string): void {
  put(`${dir}/..2024_01_01_00_00_00.1/config.yaml`, "domain: k8s\n");
  symlinkSync("..2024_01_01_00_00_00.1", join(tmp, dir, "..data"));
  symlinkSync("..data/config.yaml", join(tmp, dir, "config.yaml"));
}

describe("rulesDirectory()", () => {
  it.each([
    [
      { root: "/srv/runtime/current", subdirectory: "ratelimit", appDirectory: "config" },
      "/srv/runtime/current/ratelimit/config",
    ],
    [{ root: "/data", subdirectory: "", appDirectory: "config" }, "/data/config"],
    [{ root: "/data", subdirectory: "ratelimit", appDirectory: "" }, "/data/ratelimit"],
  ])("joins %j into %s", (location, expected) => {
    expect(rulesDirectory(location)).toBe(expected);
  });

  it("resolves a relative root against the working directory", () => {
    expect(rulesDirectory({ root: ".", subdirectory: "", appDirectory: "config" })).toBe(join(process.cwd(), "config"));
  });
});

describe("readRuleFiles()", () => {
  it("reads every file, nested directories included, whatever the extension, sorted by name", async () => {
    put("z.yaml");
    put("a.yml");
    put("notes.txt");
    put("team/b.yaml");
    put("team/deep/c.yaml");
    const { files, skipped } = await readRuleFiles(tmp, false);
    expect(files.map((f) => f.name)).toEqual(["a.yml", "notes.txt", "team/b.yaml", "team/deep/c.yaml", "z.yaml"]);
    expect(files.map((f) => decodeRuleFile(f).text)).toEqual(files.map((f) => `# ${f.name}\n`));
    expect(skipped).toEqual([]);
  });

  it("returns bytes that own their ArrayBuffer, so they can be moved to the parse worker", async () => {
    put("small.yaml", "domain: s\n"); // a read this small could land in Node's shared Buffer pool
    put("large.yaml", `domain: l\n${"# padding\n".repeat(2_000)}`);
    put("empty.yaml", "");
    const { files } = await readRuleFiles(tmp, false);
    for (const f of files.filter((x) => x.name !== "empty.yaml")) expect(soleView(f.bytes)).toBe(true);
    expect(files.map((f) => f.bytes.byteLength)).toEqual([0, 20_010, 10]);
  });

  it("decodes UTF-8 as readFile does: a BOM kept, an invalid sequence as U+FFFD", () => {
    const bytes = Uint8Array.from([0xef, 0xbb, 0xbf, 0x61, 0xff, 0x62, 0xc3, 0xa9]);
    expect(decodeRuleFile({ name: "x.yaml", bytes })).toEqual({ name: "x.yaml", text: "\ufeffa\ufffdbé" });
  });

  it("skips Markdown documentation next to the rules", async () => {
    put("README.md");
    put("NOTES.MD");
    put("rules.yaml");
    const { files, skipped } = await readRuleFiles(tmp, false);
    expect(files.map((f) => f.name)).toEqual(["rules.yaml"]);
    expect(skipped).toEqual([]);
  });

  it.each([
    [false, [".hidden.yaml", ".dir/x.yaml", "visible.yaml"]],
    [true, ["visible.yaml"]],
  ])("with ignoreDotFiles=%s reads %j", async (ignoreDotFiles, expected) => {
    put("visible.yaml");
    put(".hidden.yaml");
    put(".dir/x.yaml");
    const { files } = await readRuleFiles(tmp, ignoreDotFiles);
    expect(files.map((f) => f.name)).toEqual([...expected].sort());
  });

  it("reads a ConfigMap once with ignoreDotFiles, through the file symlink", async () => {
    configMap("cm");
    const { files, skipped } = await readRuleFiles(join(tmp, "cm"), true);
    expect(files.map(decodeRuleFile)).toEqual([{ name: "config.yaml", text: "domain: k8s\n" }]);
    expect(skipped).toEqual([]);
  });

  it("reads a ConfigMap twice without ignoreDotFiles and does not follow the ..data directory link", async () => {
    configMap("cm");
    const { files, skipped } = await readRuleFiles(join(tmp, "cm"), false);
    expect(files.map((f) => f.name)).toEqual(["..2024_01_01_00_00_00.1/config.yaml", "config.yaml"]);
    expect(skipped).toEqual([
      { file: "..data", reason: "symlink to a directory (not followed, as the reference's loader)" },
    ]);
  });

  it("skips a dangling symlink with a reason instead of failing the load", async () => {
    put("ok.yaml");
    symlinkSync("missing.yaml", join(tmp, "dangling.yaml"));
    const { files, skipped } = await readRuleFiles(tmp, false);
    expect(files.map((f) => f.name)).toEqual(["ok.yaml"]);
    expect(skipped).toEqual([{ file: "dangling.yaml", reason: "cannot read (ENOENT)" }]);
  });

  it("follows the rules directory itself when it is a symlink", async () => {
    put("real/rules.yaml");
    symlinkSync("real", join(tmp, "link"));
    const { files } = await readRuleFiles(join(tmp, "link"), false);
    expect(files.map((f) => f.name)).toEqual(["rules.yaml"]);
  });

  it("returns no files for an empty directory", async () => {
    expect(await readRuleFiles(tmp, false)).toEqual({ files: [], skipped: [] });
  });

  it("rejects with a ConfigError naming a missing directory", async () => {
    const missing = join(tmp, "nope");
    const err = await readRuleFiles(missing, false).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`${missing}: cannot read the rules directory (ENOENT)`);
  });

  it("rejects with a ConfigError when the path is a file", async () => {
    put("file.yaml");
    const err = await readRuleFiles(join(tmp, "file.yaml"), false).catch((e: unknown) => e);
    expect((err as ConfigError).detail).toBe("the rules directory is not a directory");
  });
});
