/**
 * The query string of nginx's auth URL → how to build one domain's descriptors from the subrequest's headers.
 * Pure and separately tested; the handler (nginx-auth.ts) caches the parsed mapping per distinct query string.
 *
 * Why the query string and not environment variables: one Sluice serves every nginx `location` (and every nginx),
 * and each location wants its own domain and descriptors. The mapping lives next to the `auth_request` that uses it,
 * changes with an nginx reload, and needs no Sluice restart.
 *
 * Grammar (URL-encoded as usual):
 *   domain=<domain>                              required, once
 *   descriptor=<entry>[,<entry>...]              one descriptor per parameter, entries in order; repeatable
 *   <entry> = <key>:<header-name>                the entry's value is that request header's value
 *           | <key>=<literal>                    a fixed value (Envoy's generic_key)
 * Envoy's rule applies: a descriptor whose header is missing or empty is not sent at all.
 */

/** Where one entry's value comes from. */
export type EntrySource =
  | { readonly key: string; readonly header: string }
  | { readonly key: string; readonly literal: string };

export interface NginxMapping {
  readonly domain: string;
  /** One entry list per descriptor. */
  readonly descriptors: readonly (readonly EntrySource[])[];
}

/** A mapping that cannot be used; its message names the parameter (HTTP 400). */
export class MappingError extends Error {
  override readonly name = "MappingError";
}

/** At most this many descriptors per auth URL (far above any real location; bounds work per subrequest). */
export const MAX_MAPPED_DESCRIPTORS = 64;
/** At most this many entries per descriptor. */
export const MAX_MAPPED_ENTRIES = 16;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Parses the query string (without `?`) of an auth URL. Throws MappingError. */
export function parseNginxMapping(query: string): NginxMapping {
  const params = new URLSearchParams(query);
  let domain: string | undefined;
  const descriptors: EntrySource[][] = [];
  for (const [name, value] of params) {
    if (name === "domain") {
      if (domain !== undefined) throw new MappingError("domain is given more than once");
      domain = value;
    } else if (name === "descriptor") {
      if (descriptors.length === MAX_MAPPED_DESCRIPTORS) {
        throw new MappingError(`more than ${MAX_MAPPED_DESCRIPTORS} descriptor parameters`);
      }
      descriptors.push(parseDescriptor(value));
    } else {
      throw new MappingError(`unknown parameter ${JSON.stringify(name)} (expected domain or descriptor)`);
    }
  }
  if (domain === undefined || domain === "") throw new MappingError("domain is missing (add ?domain=<rules domain>)");
  if (descriptors.length === 0) throw new MappingError("no descriptor parameter (add &descriptor=<key>:<header>)");
  return { domain, descriptors };
}

function parseDescriptor(text: string): EntrySource[] {
  const parts = text.split(",");
  if (parts.length > MAX_MAPPED_ENTRIES) {
    throw new MappingError(`descriptor ${JSON.stringify(text)} has more than ${MAX_MAPPED_ENTRIES} entries`);
  }
  return parts.map((part) => parseEntry(part, text));
}

function parseEntry(part: string, descriptor: string): EntrySource {
  const colon = part.indexOf(":");
  const equals = part.indexOf("=");
  const isHeader = colon !== -1 && (equals === -1 || colon < equals);
  const at = isHeader ? colon : equals;
  if (at <= 0) {
    throw new MappingError(
      `descriptor ${JSON.stringify(descriptor)}: entry ${JSON.stringify(part)} is not <key>:<header> or <key>=<value>`,
    );
  }
  const key = part.slice(0, at);
  const rest = part.slice(at + 1);
  if (!isHeader) return { key, literal: rest };
  const header = rest.toLowerCase();
  if (!HEADER_NAME.test(header)) {
    throw new MappingError(`descriptor ${JSON.stringify(descriptor)}: ${JSON.stringify(rest)} is not a header name`);
  }
  return { key, header };
}
