/**
 * The short seeded slice of the fuzz harness that CI runs (test/fuzz/targets.ts; the full run is `npm run fuzz`).
 * Same seed every run, so a failure reproduces; a few hundred inputs per target keep it to seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUZZ_RULES, fuzzGrpcMessages, fuzzH2Frames, fuzzJsonBodies, fuzzRuleFiles } from "../fuzz/targets.js";
import { type Harness, startHarness } from "../helpers/service.js";

const SEED = 20261204;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ rules: { "config.yaml": FUZZ_RULES } });
});
afterAll(async () => {
  await h.close();
});

describe("fuzz slice (seed 20261204)", () => {
  it("gRPC messages", async () => {
    expect(await fuzzGrpcMessages(h, { seed: SEED, numRuns: 300 })).toBe(300);
  });
  it("HTTP/2 frames", async () => {
    expect(await fuzzH2Frames(h, { seed: SEED, numRuns: 100 })).toBe(100);
  });
  it("/json bodies", async () => {
    expect(await fuzzJsonBodies(h, { seed: SEED, numRuns: 300 })).toBe(300);
  });
  it("leaves the service's stats intact, config_watch_error included", async () => {
    const stats = await (await fetch(`${h.debugUrl}/stats`)).text();
    expect(stats).toMatch(/^ratelimit\.service\.config_watch_error: 0$/m);
    expect(stats).toMatch(/^ratelimit\.service\.config_load_success: 1$/m);
  });
  it("rule files", () => {
    expect(fuzzRuleFiles({ seed: SEED, numRuns: 1_000 })).toBe(1_000);
  });
});
