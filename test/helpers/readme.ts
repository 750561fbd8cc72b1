/** The README's sections and code blocks, for the tests that run what it documents. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./sluice-process.js";

export const README = readFileSync(join(REPO, "README.md"), "utf8");

/** The text of the `## <title>` section (up to the next `## ` heading). */
export function readmeSection(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`README has no "## ${title}" section`);
  const end = README.indexOf("\n## ", start + 4);
  return README.slice(start, end === -1 ? undefined : end);
}

/** The fenced code blocks of `text` with this info string (`sh`, `yaml`, ...). */
export function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1] ?? "");
}

/**
 * A documented `for i in 1 2 …; do curl … -H 'k: v' … <url>; done` loop and the status codes shown under it:
 * how many requests, their headers, path and port, and the expected codes.
 */
export interface CurlLoop {
  readonly count: number;
  readonly headers: Record<string, string>;
  readonly port: number;
  readonly path: string;
  readonly expected: number[];
}

export function curlLoop(block: string): CurlLoop {
  const lines = block.split("\n");
  const at = lines.findIndex((l) => l.startsWith("for i in "));
  const line = lines[at] ?? "";
  const count = (/^for i in ([\d ]+); do/.exec(line)?.[1] ?? "").trim().split(" ").length;
  const headers = Object.fromEntries(
    [...line.matchAll(/-H '([^:]+): ([^']*)'/g)].map((m) => [(m[1] ?? "").toLowerCase(), m[2] ?? ""]),
  );
  const url = /localhost:(\d+)(\/\S*);/.exec(line);
  const expected = (lines[at + 1] ?? "").replace(/^# /, "").split(" ").map(Number);
  return { count, headers, port: Number(url?.[1]), path: url?.[2] ?? "", expected };
}
