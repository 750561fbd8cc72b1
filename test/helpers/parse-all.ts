import type { ParsedStream, RuleParser } from "../../src/reload/parse-off-loop.js";
import type { Pace } from "../../src/rules/pace.js";
import type { RawDescriptor, RawRuleFile, RuleFile } from "../../src/rules/schema.js";

/** A parse received in full: what the compile would take part by part (RuleParser.stream), then released. */
export async function parseAll(
  parser: RuleParser,
  files: readonly RuleFile[],
  maxRules: number,
  pace?: Pace,
): Promise<{ parsed: RawRuleFile[]; warnings: ParsedStream["warnings"]; chunks: number }> {
  const s = await parser.stream(files, maxRules, pace);
  try {
    const parsed: RawRuleFile[] = [];
    for (const [i, { name, domain }] of s.files.entries()) {
      const descriptors: RawDescriptor[] = [];
      for (let part = await s.nextPart(i); part !== undefined; part = await s.nextPart(i)) descriptors.push(...part);
      parsed.push({ name, domain, descriptors });
    }
    return { parsed, warnings: s.warnings, chunks: s.chunks };
  } finally {
    s.release();
  }
}
