/**
 * An LLM proxy that keeps spend under a $5 budget per session and $50 an hour in total. The cost of a call is known
 * only after it (the tokens used), so the proxy peeks first (`check`: is either budget already spent?), calls the
 * model, then charges the real cost (`charge`). Budgets are in micro-dollars so a cheap call still counts.
 * This replaces a hand-written cost tracker (INCRBY on a session key, plus a separate hourly key, plus the EXPIREs),
 * and the budgets hold across every instance of the proxy. The rules (rules.yaml) are `budget: true` limits: a
 * charge always counts, and a peek passes only while something is left.
 *
 *   const app = createLlmProxy({ sluice: createClient({ address: "127.0.0.1:8081" }), complete: callOpenAi });
 *   serve({ fetch: app.fetch, port: 3000 });
 */
import { Hono } from "hono";
import type { DescriptorInput, SluiceClient } from "sluice";

/** The upstream model call: the answer and the tokens it used. */
export type Complete = (prompt: string) => Promise<{ text: string; inputTokens: number; outputTokens: number }>;

export interface LlmProxyOptions {
  readonly sluice: SluiceClient;
  readonly complete: Complete;
  /** Price per million tokens, in micro-dollars (default $3 in, $15 out). */
  readonly pricePerMillion?: { readonly input: number; readonly output: number };
}

const DOMAIN = "llm";

export function createLlmProxy({ sluice, complete, pricePerMillion }: LlmProxyOptions): Hono {
  const price = pricePerMillion ?? { input: 3_000_000, output: 15_000_000 };
  const app = new Hono();
  app.post("/v1/complete", async (c) => {
    const session = c.req.header("x-session-id");
    if (!session) return c.json({ error: "x-session-id header required" }, 400);
    const { prompt } = await c.req.json<{ prompt: string }>();
    const budgets: DescriptorInput[] = [{ session }, { spend: "all-sessions" }];
    const peek = await sluice.check(DOMAIN, budgets);
    if (!peek.allowed) {
      const spent = peek.descriptors.findIndex((d) => d.code === "OVER_LIMIT") === 0 ? "session" : "hourly";
      const retryAfter = Math.max(1, Math.ceil((peek.retryAfterMs ?? 0) / 1000));
      return c.json({ error: `${spent} budget spent` }, 429, { "Retry-After": String(retryAfter) });
    }
    const answer = await complete(prompt);
    const cost = Math.ceil((answer.inputTokens * price.input + answer.outputTokens * price.output) / 1_000_000);
    // Charged even if this call takes a budget past its limit: the money is spent; the next peek says no.
    const after = await sluice.charge(DOMAIN, budgets, cost);
    return c.json({
      text: answer.text,
      costMicroUsd: cost,
      sessionRemainingMicroUsd: after.descriptors[0]?.remaining ?? 0,
    });
  });
  return app;
}
