/**
 * Collects every settings problem so startup reports them all at once (never a silent default on garbage:
 * `PORT=abc` is a problem, not 8080).
 */
import { SettingsError } from "../domain/errors.js";

export type Env = Readonly<Record<string, string | undefined>>;

export class Problems {
  private readonly list: string[] = [];

  add(message: string): void {
    this.list.push(message);
  }

  /** Raw value, trimmed; undefined when unset or empty. */
  raw(env: Env, name: string): string | undefined {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  }

  str(env: Env, name: string, fallback: string): string {
    return this.raw(env, name) ?? fallback;
  }

  int(env: Env, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const v = this.raw(env, name);
    if (v === undefined) return fallback;
    if (!/^-?\d+$/.test(v)) {
      this.add(`${name}=${JSON.stringify(v)} is not an integer`);
      return fallback;
    }
    const n = Number(v);
    if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
      this.add(`${name}=${v} is out of range [${range.min ?? "-inf"}, ${range.max ?? "inf"}]`);
      return fallback;
    }
    return n;
  }

  float(env: Env, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const v = this.raw(env, name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) {
      this.add(`${name}=${JSON.stringify(v)} is not a number`);
      return fallback;
    }
    if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
      this.add(`${name}=${v} is out of range [${range.min ?? "-inf"}, ${range.max ?? "inf"}]`);
      return fallback;
    }
    return n;
  }

  /** Go strconv.ParseBool spellings, as the reference accepts them. */
  bool(env: Env, name: string, fallback: boolean): boolean {
    const v = this.raw(env, name);
    if (v === undefined) return fallback;
    if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
    if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
    this.add(`${name}=${JSON.stringify(v)} is not a boolean (true|false)`);
    return fallback;
  }

  oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[], caseInsensitive = true): T {
    const v = this.raw(env, name);
    if (v === undefined) return fallback;
    const found = allowed.find((a) => (caseInsensitive ? a.toLowerCase() === v.toLowerCase() : a === v));
    if (found === undefined) {
      this.add(`${name}=${JSON.stringify(v)} is not one of ${allowed.join("|")}`);
      return fallback;
    }
    return found;
  }

  /** Go time.ParseDuration subset (`ns us µs ms s m h`, e.g. `10s`, `1m30s`, `250ms`); returns milliseconds. */
  durationMs(env: Env, name: string, fallbackMs: number): number {
    const v = this.raw(env, name);
    if (v === undefined) return fallbackMs;
    const ms = parseGoDurationMs(v);
    if (ms === undefined || ms < 0) {
      this.add(`${name}=${JSON.stringify(v)} is not a duration (e.g. 50ms, 10s, 1m)`);
      return fallbackMs;
    }
    return ms;
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new SettingsError(this.list);
  }
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDurationMs(text: string): number | undefined {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNIT_MS[m[2] ?? ""] ?? Number.NaN);
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 && Number.isFinite(total) ? total : undefined;
}
