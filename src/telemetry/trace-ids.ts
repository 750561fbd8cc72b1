/**
 * The active span's ids for log lines. Only the OpenTelemetry API (no SDK): the logger imports this whether or not
 * tracing is on, and the API answers "no span" until tracing.ts installs a context manager.
 */
import { context, trace } from "@opentelemetry/api";

/** `trace_id` and `span_id` of the span active now, or undefined outside a sampled call. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpan(context.active());
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
