import { Writable } from "node:stream";
import { type Logger, pino } from "pino";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A pino logger writing into memory; `lines` holds every record parsed from its JSON. */
export function createLogSink(level = "debug"): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (text.trim() !== "") lines.push(JSON.parse(text) as LogLine);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}
