/**
 * The recipes (recipes/*.yaml) and their documentation (recipes/README.md), run as documented: every rule file loaded
 * at once by `node dist/main.js` with RUNTIME_APPDIRECTORY=recipes, and every `curl` line of the README sent to
 * /json, its answer checked against the `# → <status> <fields>` line after it. Each ```sh block is one example; the
 * wall clock of a spawned process is real, so an example that crossed a minute boundary (or ran longer than 5 s, a
 * token bucket's refill) and failed is run again on a fresh process. Then the same on a real redis-server, and the
 * apply_on_stream_done requests in the gRPC shape Envoy sends.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileRuleSet } from "../../src/rules/compile.js";
import { type CompatInstance, startCompat } from "../helpers/compat-process.js";
import { createRedisFarm } from "../helpers/redis-servers.js";
import { REPO } from "../helpers/sluice-process.js";

const DIR = join(REPO, "recipes");
const README = readFileSync(join(DIR, "README.md"), "utf8");
const RECIPES = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));

interface Call {
  readonly body: string;
  readonly times: number;
  readonly status: number;
  readonly expected: unknown;
}

/** The ```sh blocks that call /json, each as its list of calls. */
function examples(): Call[][] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  return blocks
    .filter((b) => b.includes("localhost:8080/json"))
    .map((block) => {
      const lines = block.split("\n");
      const calls: Call[] = [];
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? "";
        const body = /-d '([^']*)'/.exec(line)?.[1];
        if (body === undefined) continue;
        const loop = /^for i in \$\(seq (\d+)\)/.exec(line);
        if (loop !== null) {
          calls.push({ body, times: Number(loop[1]), status: 200, expected: undefined });
          continue;
        }
        const answer = /^# → (\d{3}) (.*)$/.exec(lines[i + 1] ?? "");
        if (answer === null) throw new Error(`no "# →" line after: ${line}`);
        calls.push({ body, times: 1, status: Number(answer[1]), expected: JSON.parse(answer[2] ?? "") });
      }
      return calls;
    });
}

const EXAMPLES = examples();
const ENV = { RUNTIME_ROOT: REPO, RUNTIME_APPDIRECTORY: "recipes", LIMIT_RESPONSE_HEADERS_ENABLED: "true" };

async function post(base: string, body: string): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${base}/json`, { method: "POST", body });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

async function runExample(base: string, calls: readonly Call[]): Promise<void> {
  for (const call of calls) {
    for (let n = 0; n < call.times; n++) {
      const { status, json, headers } = await post(base, call.body);
      const what = `${call.body} → ${status} ${JSON.stringify(json)}`;
      expect(status, what).toBe(call.status);
      if (call.expected !== undefined) expect(json, what).toMatchObject(call.expected as object);
      // The listed headers also come as HTTP headers of the /json answer.
      const listed = (json as { responseHeadersToAdd?: { key: string; value: string }[] }).responseHeadersToAdd ?? [];
      for (const h of listed) expect(headers.get(h.key), `${what}: header ${h.key}`).toBe(h.value);
    }
  }
}

/** Runs the recipe examples against instances made by `start` (a fresh one after a clock-sensitive failure). */
function describeExamples(name: string, start: () => Promise<CompatInstance>): void {
  describe(name, () => {
    let instance: CompatInstance | undefined;
    const current = async (): Promise<CompatInstance> => {
      instance ??= await start();
      return instance;
    };
    afterAll(() => instance?.stop());

    it("loads every recipe, each its own domain, with no warning", async () => {
      const s = (await current()).sluice;
      const dump = await (await fetch(`${s.debug}/rlconfig`)).text();
      const domains = RECIPES.map((f) => /^domain: (\S+)$/m.exec(readFileSync(join(DIR, f), "utf8"))?.[1]);
      expect(new Set(domains).size).toBe(RECIPES.length);
      for (const d of domains) expect(dump).toMatch(new RegExp(`^${d}\\.`, "m"));
      expect(s.output()).not.toContain("rule file warning");
    });

    it.each(EXAMPLES.map((calls, i) => [i, calls[0]?.body.slice(0, 40), calls] as const))(
      "example %i (%s…) answers as documented",
      async (_i, _label, calls) => {
        for (let attempt = 0; ; attempt++) {
          const base = (await current()).sluice.http;
          const t0 = Date.now();
          try {
            await runExample(base, calls);
            return;
          } catch (err) {
            const t1 = Date.now();
            const clockMoved = Math.floor(t0 / 60_000) !== Math.floor(t1 / 60_000) || t1 - t0 > 5_000;
            if (!clockMoved || attempt >= 2) throw err;
            await instance?.stop();
            instance = undefined;
          }
        }
      },
      60_000,
    );
  });
}

describeExamples("recipes on the memory backend", () => startCompat({ env: ENV }));

const farm = createRedisFarm();
afterAll(() => farm.stopAll());
let prefixes = 0;
// A generous REDIS_TIMEOUT: the default 20 ms is a production figure, not one for a busy shared test machine.
describeExamples("recipes on Redis", async () => {
  const redis = await farm.start();
  prefixes++;
  return startCompat({
    env: {
      ...ENV,
      BACKEND_TYPE: "redis",
      REDIS_URL: redis.address,
      REDIS_TIMEOUT: "3s",
      CACHE_KEY_PREFIX: `recipes${prefixes}:`,
    },
  });
});

describe("recipes/README.md", () => {
  it("links every recipe file and shows requests for each recipe's domain", () => {
    const bodies = EXAMPLES.flat().map((c) => c.body);
    for (const file of RECIPES) {
      expect(README).toContain(`(${file})`);
      const domain = /^domain: (\S+)$/m.exec(readFileSync(join(DIR, file), "utf8"))?.[1];
      expect(
        bodies.some((b) => b.includes(`"domain":"${domain}"`)),
        file,
      ).toBe(true);
    }
  });

  it("loads together with the example rules of config/ (no domain clash)", () => {
    const dir = join(REPO, "config");
    const files = [
      ...readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => ({ name: `config/${f}`, text: readFileSync(join(dir, f), "utf8") })),
      ...RECIPES.map((f) => ({ name: `recipes/${f}`, text: readFileSync(join(DIR, f), "utf8") })),
    ];
    const rules = compileRuleSet(files, { mergeDomainConfig: false });
    expect(rules.domains).toHaveLength(files.length);
  });

  it("charges tokens in the gRPC shape Envoy sends with apply_on_stream_done", async () => {
    const text = /```text\n(domain: "llm-stream"[\s\S]*?)```/.exec(README)?.[1] ?? "";
    const requests = text
      .trim()
      .split("\n\n")
      .map((req) => {
        const entries = [...req.matchAll(/entries \{ key: "([^"]+)" value: "([^"]+)" \}/g)].map((m) => ({
          key: m[1] ?? "",
          value: m[1] === "user_id" ? "grpc-user" : (m[2] ?? ""),
        }));
        const hits = /hits_addend \{ value: (\d+) \}/.exec(req)?.[1] ?? "";
        return { domain: "llm-stream", descriptors: [{ entries, hits_addend: { value: hits } }] };
      });
    expect(requests).toHaveLength(2);
    const c = await startCompat({ env: ENV });
    try {
      for (let attempt = 0; ; attempt++) {
        // A fresh user per attempt; an attempt that crossed the hour (the rule's window) is run again.
        const [check, charge] = requests.map((r) => ({
          ...r,
          descriptors: r.descriptors.map((d) => ({
            ...d,
            entries: d.entries.map((e) => (e.key === "user_id" ? { ...e, value: `${e.value}-${attempt}` } : e)),
          })),
        }));
        if (check === undefined || charge === undefined) throw new Error("two requests expected");
        const t0 = Date.now();
        const answers = [await c.envoy.ask(check), await c.envoy.ask(charge), await c.envoy.ask(check)];
        if (Math.floor(t0 / 3_600_000) !== Math.floor(Date.now() / 3_600_000) && attempt < 2) continue;
        expect(answers[0]).toMatchObject({
          overall_code: "OK",
          statuses: [{ code: "OK", limit_remaining: 100_000, current_limit: { requests_per_unit: 100_000 } }],
        });
        expect(answers[1]?.statuses[0]).toMatchObject({ code: "OK", limit_remaining: 98_766 });
        // The check counted nothing, the charge 1,234 tokens.
        expect(answers[2]?.statuses[0]).toMatchObject({ code: "OK", limit_remaining: 98_766 });
        return;
      }
    } finally {
      await c.stop();
    }
  }, 60_000);
});
