/**
 * One ioredis client (Redis or Cluster) for one endpoint, with connection-state logging: each transition between
 * connected and disconnected is logged once (never once per reconnect attempt), and errors are logged as name and
 * message only, because ioredis attaches the failed command's arguments to its errors (an AUTH error would carry the
 * password).
 */
import { Cluster, Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisEndpointSettings } from "../../settings/redis-settings.js";
import { clusterOptions, redisOptions } from "./client-options.js";
import { LIMITS_COMMAND, LIMITS_LUA } from "./limits-script.js";
import { REFUND_COMMAND, REFUND_LUA } from "./refund-script.js";

export interface RedisConnection {
  readonly endpoint: RedisEndpointSettings;
  readonly client: Redis | Cluster;
  readonly isCluster: boolean;
  /** True while commands can be sent (ioredis status "ready"). */
  ready(): boolean;
  /** ioredis status, for error messages. */
  status(): string;
  /** Quits (bounded to 200 ms), then disconnects. Idempotent. */
  close(): Promise<void>;
}

/** The safe part of an ioredis error: never its `command` (arguments may include credentials). */
export function errorSummary(err: unknown): { name: string; message: string; code?: string } {
  if (!(err instanceof Error)) return { name: "Error", message: String(err) };
  const code = (err as { code?: unknown }).code;
  return typeof code === "string"
    ? { name: err.name, message: err.message, code }
    : { name: err.name, message: err.message };
}

/** Connects in the background (never throws for an unreachable Redis); throws SettingsError for unreadable TLS files. */
export function createRedisConnection(
  endpoint: RedisEndpointSettings,
  logger: Logger,
  onStateChange?: (ready: boolean) => void,
): RedisConnection {
  const log = logger.child({ redis: endpoint.name });
  const isCluster = endpoint.topology === "cluster";
  let client: Redis | Cluster;
  if (isCluster) {
    const { nodes, options } = clusterOptions(endpoint);
    client = new Cluster(nodes, options);
  } else {
    client = new Redis(redisOptions(endpoint));
  }
  client.defineCommand(REFUND_COMMAND, { numberOfKeys: 1, lua: REFUND_LUA });
  // numberOfKeys omitted: the first argument of each call is its key count.
  client.defineCommand(LIMITS_COMMAND, { lua: LIMITS_LUA });

  let up = false;
  let errorLogged = false;
  let closing = false;
  const target = endpoint.target;
  client.on("ready", () => {
    if (up) return;
    up = true;
    errorLogged = false;
    log.info({ target }, "redis connected");
    onStateChange?.(true);
  });
  const onDown = (): void => {
    if (!up || closing) return;
    up = false;
    log.warn({ target }, "redis connection lost; reconnecting");
    onStateChange?.(false);
  };
  client.on("close", onDown);
  client.on("end", onDown);
  const onError = (err: unknown): void => {
    if (closing) return;
    if (!errorLogged) {
      errorLogged = true;
      log.warn({ target, err: errorSummary(err) }, "redis connection error; retrying in the background");
    } else if (log.isLevelEnabled("debug")) {
      log.debug({ target, err: errorSummary(err) }, "redis connection error");
    }
  };
  client.on("error", onError);
  if (isCluster) client.on("node error", onError);

  let closed: Promise<void> | undefined;
  return {
    endpoint,
    client,
    isCluster,
    ready: () => client.status === "ready",
    status: () => client.status,
    close(): Promise<void> {
      closing = true;
      closed ??= quitThenDisconnect(client);
      return closed;
    },
  };
}

async function quitThenDisconnect(client: Redis | Cluster): Promise<void> {
  if (client.status === "ready") {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 200);
    });
    await Promise.race([client.quit().then(noop, noop), timeout]);
    clearTimeout(timer);
  }
  client.disconnect();
}

function noop(): void {}
