/** Public surface of the rules layer: YAML rule files → immutable RuleSet (no file I/O here). */
export { type CompileOptions, compileRuleSet } from "./compile.js";
export { dumpLine } from "./dump.js";
export { type CompiledRule, type MetricTemplate, metricKeyFor } from "./metric-key.js";
export { type ConfigWarning, parseRuleFile, type RuleFile, type WarningSink } from "./schema.js";
