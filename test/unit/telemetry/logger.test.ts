import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, flushLogger } from "../../../src/telemetry/logger.js";

function sink(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString("utf8").split("\n")) if (text.trim()) lines.push(JSON.parse(text));
      done();
    },
  });
  return { stream, lines };
}

describe("createLogger()", () => {
  it("writes JSON lines with the level, an ISO time and errors under err", () => {
    const { stream, lines } = sink();
    const log = createLogger({ logLevel: "info", logFormat: "json" }, stream);
    log.child({ component: "grpc" }).error({ err: new Error("boom") }, "failed");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: "failed", component: "grpc", service: "sluice" });
    expect(lines[0]?.["err"]).toMatchObject({ type: "Error", message: "boom" });
    expect(String(lines[0]?.["time"])).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it.each([
    ["warn", ["warn", "error"]],
    ["debug", ["debug", "info", "warn", "error"]],
    ["fatal", []],
  ] as const)("honours LOG_LEVEL=%s", (level, expected) => {
    const { stream, lines } = sink();
    const log = createLogger({ logLevel: level, logFormat: "json" }, stream);
    log.trace("trace");
    log.debug("debug");
    log.info("info");
    log.warn("warn");
    log.error("error");
    expect(lines.map((l) => l["msg"])).toEqual(expected);
  });

  it("builds the text (pino-pretty) and json loggers for stdout", async () => {
    for (const logFormat of ["text", "json"] as const) {
      const log = createLogger({ logLevel: "fatal", logFormat });
      expect(log.level).toBe("fatal");
      await flushLogger(log);
    }
  });
});
