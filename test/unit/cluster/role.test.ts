import { describe, expect, it } from "vitest";
import { type ProcessRole, processRole } from "../../../src/cluster/role.js";
import type { BackendType } from "../../../src/settings/settings.js";

describe("processRole()", () => {
  it.each<[BackendType, number, boolean, ProcessRole]>([
    ["redis", 1, false, "single"],
    ["redis", 2, false, "primary"],
    ["redis", 64, false, "primary"],
    ["memory", 1, false, "single"],
    ["memory", 2, false, "single"],
    ["memory", 64, false, "single"],
    ["redis", 2, true, "worker"],
    ["redis", 1, true, "worker"],
  ])("backend %s with WORKERS=%i (cluster worker: %s) is %s", (backend, workers, isWorker, role) => {
    expect(processRole({ backend, workers }, isWorker)).toBe(role);
  });
});
