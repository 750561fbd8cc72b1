import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RuleSet } from "../../../src/domain/types.js";
import { compileRuleSet } from "../../../src/rules/compile.js";
import type { RuleFile } from "../../../src/rules/schema.js";

const root = fileURLToPath(new URL("../../fixtures/rules/", import.meta.url));

/** A fixture file as compileRuleSet takes it, named by its base name (as error messages show it). */
export function fixture(kind: "valid" | "invalid", name: string): RuleFile {
  return { name, text: readFileSync(`${root}${kind}/${name}`, "utf8") };
}

/** Compiles valid fixtures into one RuleSet. */
export function compileValid(...names: string[]): RuleSet {
  return compileRuleSet(
    names.map((n) => fixture("valid", n)),
    { mergeDomainConfig: names.length > 1 },
  );
}

/** Compiles inline YAML as one file named `inline.yaml`. */
export function compileText(text: string, mergeDomainConfig = false): RuleSet {
  return compileRuleSet([{ name: "inline.yaml", text }], { mergeDomainConfig });
}
