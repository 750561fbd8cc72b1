import { describe, expect, it } from "vitest";
import { createRestartPolicy, DEFAULT_RESTART_POLICY } from "../../../src/cluster/restart-policy.js";

const OPTIONS = { baseDelayMs: 100, maxDelayMs: 1_000, windowMs: 60_000, maxStartupFailures: 3 };
/** A worker that had started died; none other serving. */
const STARTED = { wasReady: true, othersServing: false };
/** A worker died before it was ready, and no other worker serves. */
const NEVER_READY = { wasReady: false, othersServing: false };
/** A replacement died before it was ready while other workers serve. */
const REPLACEMENT_FAILED = { wasReady: false, othersServing: true };

describe("createRestartPolicy()", () => {
  it("replaces a worker that died after starting at once, with the base delay", () => {
    const policy = createRestartPolicy(OPTIONS);
    expect(policy.exited(0, STARTED)).toEqual({ action: "restart", delayMs: 100 });
  });

  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1_000],
    [12, 1_000],
  ])("doubles the delay per recent exit, capped: exit %i waits %i ms", (n, delayMs) => {
    const policy = createRestartPolicy(OPTIONS);
    let decision = policy.exited(0, STARTED);
    for (let i = 1; i < n; i++) decision = policy.exited(i * 1_000, STARTED);
    expect(decision).toEqual({ action: "restart", delayMs });
  });

  it("forgets exits older than the window", () => {
    const policy = createRestartPolicy(OPTIONS);
    policy.exited(0, STARTED);
    policy.exited(1_000, STARTED);
    expect(policy.exited(60_500, STARTED)).toEqual({ action: "restart", delayMs: 200 });
    expect(policy.exited(200_000, STARTED)).toEqual({ action: "restart", delayMs: 100 });
  });

  it("never gives up on workers that had started", () => {
    const policy = createRestartPolicy(OPTIONS);
    for (let i = 0; i < 50; i++) expect(policy.exited(i, STARTED).action).toBe("restart");
  });

  it("gives up after maxStartupFailures consecutive startup failures", () => {
    const policy = createRestartPolicy(OPTIONS);
    expect(policy.exited(0, NEVER_READY)).toEqual({ action: "restart", delayMs: 100 });
    expect(policy.exited(100, NEVER_READY)).toEqual({ action: "restart", delayMs: 200 });
    expect(policy.exited(300, NEVER_READY)).toEqual({ action: "give-up", startupFailures: 3 });
  });

  it("starts counting startup failures again once a worker is ready", () => {
    const policy = createRestartPolicy(OPTIONS);
    policy.exited(0, NEVER_READY);
    policy.exited(100, NEVER_READY);
    policy.ready();
    expect(policy.exited(200, NEVER_READY).action).toBe("restart");
    expect(policy.exited(300, NEVER_READY).action).toBe("restart");
    expect(policy.exited(400, NEVER_READY)).toEqual({ action: "give-up", startupFailures: 3 });
  });

  it("does not count a started worker's exit as a startup failure", () => {
    const policy = createRestartPolicy(OPTIONS);
    policy.exited(0, NEVER_READY);
    policy.exited(100, NEVER_READY);
    expect(policy.exited(200, STARTED).action).toBe("restart");
    expect(policy.exited(300, NEVER_READY)).toEqual({ action: "give-up", startupFailures: 3 });
  });

  it("has defaults that retry a failing start a few times within seconds", () => {
    const policy = createRestartPolicy();
    const delays: number[] = [];
    for (let i = 0; i < DEFAULT_RESTART_POLICY.maxStartupFailures - 1; i++) {
      const d = policy.exited(i, NEVER_READY);
      if (d.action === "restart") delays.push(d.delayMs);
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    expect(policy.exited(10, NEVER_READY).action).toBe("give-up");
  });

  it("keeps retrying a failing replacement while other workers serve", () => {
    const policy = createRestartPolicy(OPTIONS);
    for (let i = 0; i < 10; i++) expect(policy.exited(i, REPLACEMENT_FAILED).action).toBe("restart");
    expect(policy.exited(10, NEVER_READY)).toEqual({ action: "give-up", startupFailures: 11 });
  });
});
