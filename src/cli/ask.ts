/**
 * `sluice ask`: one ShouldRateLimit through the SDK, printed for a person (or as JSON). Exit codes: 0 allowed,
 * 1 limited, 2 error (bad arguments, Sluice down or refusing the request).
 */
import { createClient } from "../client/client.js";
import { SluiceError } from "../client/errors.js";
import type { DescriptorResult, RateLimitResult } from "../client/types.js";

export interface AskOptions {
  readonly domain: string;
  readonly descriptor: readonly string[];
  readonly hits?: number;
  readonly address: string;
  readonly timeout: number;
  readonly json?: boolean;
}

export const EXIT_ALLOWED = 0;
export const EXIT_LIMITED = 1;
export const EXIT_ERROR = 2;

/** Parses `k=v,k2=v2` into entries; throws a one-line message naming the bad part. */
export function parseDescriptor(text: string): [string, string][] {
  const entries: [string, string][] = [];
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new SluiceArgumentError(`--descriptor "${text}": "${part}" is not key=value`);
    entries.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  return entries;
}

export class SluiceArgumentError extends Error {
  override readonly name = "SluiceArgumentError";
}

export async function runAsk(opts: AskOptions, out: (text: string) => void): Promise<number> {
  const descriptors = opts.descriptor.map(parseDescriptor);
  const client = createClient({ address: opts.address, timeoutMs: opts.timeout });
  try {
    const result = await client.shouldRateLimit(
      opts.domain,
      descriptors,
      opts.hits === undefined ? {} : { hits: opts.hits },
    );
    if (opts.json === true) out(`${JSON.stringify({ domain: opts.domain, request: descriptors, ...result })}\n`);
    else out(describe(result, descriptors));
    return result.allowed ? EXIT_ALLOWED : EXIT_LIMITED;
  } catch (err) {
    if (err instanceof SluiceError) throw new SluiceArgumentError(`${err.code} from ${opts.address}: ${err.message}`);
    throw err;
  } finally {
    client.close();
  }
}

function describe(result: RateLimitResult, request: readonly [string, string][][]): string {
  let text = result.allowed ? "ALLOWED" : "LIMITED";
  text += ` (${result.code})`;
  if (result.retryAfterMs !== undefined) text += `, retry after ${seconds(result.retryAfterMs)}`;
  text += "\n";
  result.descriptors.forEach((d, i) => {
    const entries = (request[i] ?? []).map(([k, v]) => `${k}=${v}`).join(",");
    text += `  ${entries}: ${describeOne(d)}\n`;
  });
  return text;
}

function describeOne(d: DescriptorResult): string {
  if (d.limit === undefined) return `${d.code}, no rule matched`;
  const name = d.limit.name === "" ? "" : ` (${d.limit.name})`;
  const reset = d.resetAfterMs === undefined ? "" : `, resets in ${seconds(d.resetAfterMs)}`;
  return `${d.code}, ${d.remaining} of ${d.limit.requestsPerUnit}/${d.limit.unit} left${name}${reset}`;
}

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)}s`;
}
