/**
 * The environment every bench starts the service with: loopback listeners on the given ports, rules from
 * `<rulesRoot>/ratelimit/config` (not watched for root swaps), one process. Callers add the backend and the rest.
 *
 * @param {{ grpc: number, http: number, debug: number }} ports
 * @param {string} rulesRoot
 */
export function serviceBaseEnv(ports, rulesRoot) {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    NODE_ENV: "production",
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: String(ports.grpc),
    HOST: "127.0.0.1",
    PORT: String(ports.http),
    DEBUG_HOST: "127.0.0.1",
    DEBUG_PORT: String(ports.debug),
    RUNTIME_ROOT: rulesRoot,
    RUNTIME_SUBDIRECTORY: "ratelimit",
    RUNTIME_WATCH_ROOT: "false",
    WORKERS: "1",
  };
}
