/** A Prometheus scrape parsed into families (from `# TYPE`) and samples keyed `name{a="x",b="y"}` (labels sorted). */
export interface Scrape {
  readonly text: string;
  /** Family name → type. */
  readonly families: ReadonlyMap<string, string>;
  readonly samples: ReadonlyMap<string, number>;
  /** The value of one sample; labels in any order. */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`scrape ${url}: HTTP ${res.status}: ${await res.text()}`);
  return parseScrape(await res.text());
}

export function parseScrape(text: string): Scrape {
  const families = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) families.set(type[1] as string, type[2] as string);
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    samples.set(sampleKey(m[1] as string, labels), Number(m[3]));
  }
  return { text, families, samples, value: (name, labels = {}) => samples.get(sampleKey(name, labels)) };
}

function sampleKey(name: string, labels: Readonly<Record<string, string>>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(",")}}`;
}

/** Whether the scrape has a family for a metric name as a query names it (`x_bucket` → histogram `x`). */
export function hasMetric(s: Scrape, name: string): boolean {
  if (s.families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && s.families.get(base) === "histogram";
}
