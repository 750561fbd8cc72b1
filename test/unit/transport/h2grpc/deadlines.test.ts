import { describe, expect, it } from "vitest";
import { createDeadlineTracker, type Expirable } from "../../../../src/transport/h2grpc/deadlines.js";

function item(name: string, deadlineMs: number, expired: string[]): Expirable {
  return { deadlineMs, expire: () => expired.push(name) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("createDeadlineTracker()", () => {
  it("expires items when their deadline passes, in deadline order", async () => {
    const tracker = createDeadlineTracker();
    const expired: string[] = [];
    const t = tracker.now();
    tracker.add(item("late", t + 60, expired));
    tracker.add(item("early", t + 20, expired));
    await sleep(40);
    expect(expired).toEqual(["early"]);
    await sleep(50);
    expect(expired).toEqual(["early", "late"]);
  });

  it("never expires an item deleted before its deadline", async () => {
    const tracker = createDeadlineTracker();
    const expired: string[] = [];
    const done = item("done", tracker.now() + 20, expired);
    tracker.add(done);
    tracker.add(item("slow", tracker.now() + 30, expired));
    tracker.delete(done);
    await sleep(60);
    expect(expired).toEqual(["slow"]);
  });

  it("expires an item whose deadline is already past on the next turn", async () => {
    const tracker = createDeadlineTracker();
    const expired: string[] = [];
    tracker.add(item("past", tracker.now() - 5, expired));
    expect(expired).toEqual([]);
    await sleep(10);
    expect(expired).toEqual(["past"]);
  });

  it("drops pending items without expiring them on clear()", async () => {
    const tracker = createDeadlineTracker();
    const expired: string[] = [];
    tracker.add(item("a", tracker.now() + 10, expired));
    tracker.clear();
    await sleep(30);
    expect(expired).toEqual([]);
  });

  it("reads time from the clock it is given", () => {
    let now = 1_000;
    const tracker = createDeadlineTracker(() => now);
    expect(tracker.now()).toBe(1_000);
    now = 2_000;
    expect(tracker.now()).toBe(2_000);
  });
});
