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

describe("control characters in logged errors", () => {
  const forged = "bad value\n[12:00:00.000] INFO: forged line\r\u001b[31m";
  it("are escaped in LOG_FORMAT=text, message and stack alike", () => {
    let out = "";
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString("utf8");
        done();
      },
    });
    const log = createLogger({ logLevel: "info", logFormat: "text" }, stream);
    log.error({ err: new Error(forged) }, "request failed");
    expect(out).not.toContain("\n[12:00:00.000] INFO: forged line");
    expect(out).not.toContain("\r");
    expect(out).not.toContain("\u001b");
    expect(out).toContain("bad value\\u000a[12:00:00.000] INFO: forged line\\u000d\\u001b[31m");
  });

  it("are escaped in LOG_FORMAT=json too", () => {
    const { stream, lines } = sink();
    createLogger({ logLevel: "info", logFormat: "json" }, stream).error({ err: new Error(forged) }, "request failed");
    expect(lines).toHaveLength(1);
    const err = lines[0]?.["err"] as { message: string; stack: string };
    expect(err.message).toBe("bad value\\u000a[12:00:00.000] INFO: forged line\\u000d\\u001b[31m");
    expect(err.stack.split("\n")[0]).toBe(`Error: ${err.message}`);
  });
});
