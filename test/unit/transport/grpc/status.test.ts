import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  InvalidRequestError,
  NoConfigError,
  StoreUnavailableError,
} from "../../../../src/domain/errors.js";
import { toGrpcError } from "../../../../src/transport/grpc/status.js";
import { createLogSink } from "../../../helpers/log-sink.js";

describe("toGrpcError()", () => {
  it.each([
    [
      "InvalidRequestError",
      new InvalidRequestError("rate limit domain must not be empty"),
      status.INVALID_ARGUMENT,
      "service_error",
    ],
    ["NoConfigError", new NoConfigError(), status.UNAVAILABLE, "service_error"],
    ["StoreUnavailableError", new StoreUnavailableError("redis down"), status.UNAVAILABLE, "redis_error"],
  ] as const)("maps %s", (_name, err, code, kind) => {
    const { logger, lines } = createLogSink();
    expect(toGrpcError(err, logger)).toEqual({ code, details: err.message, kind });
    expect(lines).toEqual([]);
  });

  it.each([
    ["a TypeError", new TypeError("x is undefined")],
    ["a ConfigError", new ConfigError("a.yaml", "", "bad")],
    ["a thrown string", "boom"],
  ])("maps %s to INTERNAL without leaking details, logging it at error", (_name, err) => {
    const { logger, lines } = createLogSink();
    expect(toGrpcError(err, logger)).toEqual({
      code: status.INTERNAL,
      details: "internal error",
      kind: "service_error",
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: "unexpected error in ShouldRateLimit" });
    expect(lines[0]?.["err"]).toBeDefined();
  });
});
