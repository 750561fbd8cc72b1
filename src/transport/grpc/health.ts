/**
 * grpc.health.v1.Health (Check and Watch) over the shared Health model, so Kubernetes gRPC probes and
 * grpc_health_probe work on the gRPC port. Known services: "" (the whole server) and "ratelimit" (the name the
 * reference registers); others answer NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch), as the protocol specifies.
 */
import { type ServerWritableStream, status, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  type HealthCheckRequest,
  type HealthServer,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../gen/grpc/health/v1/health.js";
import type { Health } from "../health.js";

export { HealthService as HealthServiceDefinition } from "../../gen/grpc/health/v1/health.js";

const KNOWN_SERVICES: ReadonlySet<string> = new Set(["", "ratelimit"]);

export interface GrpcHealthService extends UntypedServiceImplementation, HealthServer {
  /** Ends every open Watch stream (at shutdown, so a graceful stop is not held open by watchers). */
  endWatches(): void;
}

/** Creates the Health service implementation. */
export function createGrpcHealthService(health: Health): GrpcHealthService {
  const watches = new Map<ServerWritableStream<HealthCheckRequest, unknown>, () => void>();
  const servingStatus = (): Serving => (health.isHealthy() ? Serving.SERVING : Serving.NOT_SERVING);
  return {
    check(call, callback) {
      if (!KNOWN_SERVICES.has(call.request.service)) {
        callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        return;
      }
      callback(null, { status: servingStatus() });
    },
    watch(call) {
      if (!KNOWN_SERVICES.has(call.request.service)) {
        // grpc.health.v1: an unknown service is answered SERVICE_UNKNOWN and the stream stays open.
        call.write({ status: Serving.SERVICE_UNKNOWN });
      } else {
        call.write({ status: servingStatus() });
      }
      const unsubscribe = KNOWN_SERVICES.has(call.request.service)
        ? health.subscribe((healthy) => call.write({ status: healthy ? Serving.SERVING : Serving.NOT_SERVING }))
        : () => {};
      const done = (): void => {
        unsubscribe();
        watches.delete(call);
      };
      watches.set(call, done);
      call.on("cancelled", done);
      call.on("close", done);
      call.on("error", done);
    },
    endWatches() {
      for (const [call, done] of watches) {
        done();
        call.end();
      }
    },
  };
}
