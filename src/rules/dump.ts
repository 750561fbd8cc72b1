/**
 * The loaded rules as text for the debug port's /rlconfig, one line per configured `rate_limit`, in the line format
 * of envoyproxy/ratelimit's `Dump()`:
 *
 *   <fullKey>: unit=<UNIT> requests_per_unit=<n>, shadow_mode: <bool>
 *
 * e.g. `messaging.message_type_marketing.to_number: unit=DAY requests_per_unit=5, shadow_mode: false`. Unlimited
 * rules print `unit=UNKNOWN` as the reference does (their unit is unset). The reference walks Go maps, so its order
 * varies between runs; ours is file order, domains in load order.
 */
import type { LimitRule } from "../domain/types.js";
import { renderExtensions } from "./limit-keys.js";
import type { Level, RuleNode } from "./match.js";

/** Every rule of every domain, each line ending in `\n` ("" when there are none). */
export function dumpRules(roots: ReadonlyMap<string, Level>): string {
  let out = "";
  for (const top of roots.values()) out += dumpLevel(top);
  return out;
}

function dumpLevel(level: Level): string {
  let out = "";
  for (const node of level.nodes) out += dumpNode(node);
  return out;
}

/** The lines of one descriptor item and everything under it. */
export function dumpNode(node: RuleNode): string {
  let out = node.rule === undefined ? "" : dumpLine(node.rule);
  if (node.children !== undefined) out += dumpLevel(node.children);
  return out;
}

/**
 * The /rlconfig line(s) of one rule, newline included: one per limit. Sluice's extension keys follow the
 * reference's fields when they differ from their defaults (`unit=MINUTE requests_per_unit=60 algorithm=token_bucket
 * burst=10, shadow_mode: false`), so a reference rule's line is unchanged.
 */
export function dumpLine(rule: LimitRule): string {
  let out = "";
  for (const limit of rule.limits) {
    const unit = rule.unlimited ? "UNKNOWN" : limit.unit.toUpperCase();
    const ext = rule.unlimited ? "" : renderExtensions(limit);
    out += `${rule.fullKey}: unit=${unit} requests_per_unit=${limit.requestsPerUnit}${ext}, shadow_mode: ${rule.shadowMode}\n`;
  }
  return out;
}
