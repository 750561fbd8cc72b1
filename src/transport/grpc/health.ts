/**
 * grpc.health.v1.Health (Check and Watch) over the shared Health model, so Kubernetes gRPC probes and
 * grpc_health_probe work on the gRPC port. Known services: "" (the whole server) and "ratelimit" (the name the
 * reference registers); others answer NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch), as the protocol specifies.
 * Watch streams stay open, sending each change, until the client leaves or the server shuts down (endWatches).
 */
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthService,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../gen/grpc/health/v1/health.js";
import type { GrpcMethod, ServerCall } from "../h2grpc/call.js";
import { createFrameEncoder } from "../h2grpc/framing.js";
import { GrpcStatus } from "../h2grpc/protocol.js";
import type { Health } from "../health.js";

const KNOWN_SERVICES: ReadonlySet<string> = new Set(["", "ratelimit"]);

export interface GrpcHealthService {
  /** Check (unary) and Watch (server streaming), for the gRPC server. */
  readonly methods: readonly GrpcMethod[];
  /** Ends every open Watch stream with OK (at shutdown, so a graceful stop is not held open by watchers). */
  endWatches(): void;
}

/** Creates the Health service. */
export function createGrpcHealthService(health: Health): GrpcHealthService {
  const watches = new Map<ServerCall, () => void>();
  const encode = createFrameEncoder(HealthCheckResponse);
  const servingStatus = (healthy: boolean): Serving => (healthy ? Serving.SERVING : Serving.NOT_SERVING);
  const check: GrpcMethod = {
    path: HealthService.check.path,
    handle(message, call) {
      const service = requestedService(message, call);
      if (service === undefined) return;
      if (!KNOWN_SERVICES.has(service)) {
        call.fail(GrpcStatus.NOT_FOUND, `unknown service ${JSON.stringify(service)}`);
        return;
      }
      call.reply(encode({ status: servingStatus(health.isHealthy()) }));
    },
  };
  const watch: GrpcMethod = {
    path: HealthService.watch.path,
    handle(message, call) {
      const service = requestedService(message, call);
      if (service === undefined) return;
      let unsubscribe = (): void => {};
      if (KNOWN_SERVICES.has(service)) {
        call.write(encode({ status: servingStatus(health.isHealthy()) }));
        unsubscribe = health.subscribe((healthy) => call.write(encode({ status: servingStatus(healthy) })));
      } else {
        // grpc.health.v1: an unknown service is answered SERVICE_UNKNOWN and the stream stays open.
        call.write(encode({ status: Serving.SERVICE_UNKNOWN }));
      }
      const done = (): void => {
        unsubscribe();
        watches.delete(call);
      };
      watches.set(call, done);
      call.onClose(done);
    },
  };
  return {
    methods: [check, watch],
    endWatches() {
      for (const [call, done] of watches) {
        done();
        call.end();
      }
    },
  };
}

/** The request's `service`, or undefined after answering INVALID_ARGUMENT for bytes that are not a request. */
function requestedService(message: Buffer, call: ServerCall): string | undefined {
  try {
    return HealthCheckRequest.decode(message).service;
  } catch {
    call.fail(GrpcStatus.INVALID_ARGUMENT, "malformed HealthCheckRequest");
    return undefined;
  }
}
