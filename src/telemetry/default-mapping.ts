/**
 * The default statsd → Prometheus mapping: the metric names and labels of the reference's built-in mapping
 * (envoyproxy/ratelimit src/stats/prom/default_mapper.yaml), which Envoy Gateway's dashboard queries:
 * `ratelimit_service_rate_limit_<stat>{domain, key1[, key2]}` (one level: glob; two or more: the first two levels),
 * `ratelimit_service_should_rate_limit_error{err_type}`, `ratelimit_service_total_requests{grpc_method}`,
 * `ratelimit_service_response_time_seconds{grpc_method}` and `ratelimit_service_config_load_{success,error}`.
 * Sluice adds the same mapping for `over_limit_with_local_cache`, which the reference leaves unmapped.
 */
export const DEFAULT_MAPPING_YAML = `mappings:
  - match: "ratelimit.service.rate_limit.*.*.near_limit"
    name: "ratelimit_service_rate_limit_near_limit"
    labels: { domain: "$1", key1: "$2" }
  - match: "ratelimit.service.rate_limit.*.*.over_limit"
    name: "ratelimit_service_rate_limit_over_limit"
    labels: { domain: "$1", key1: "$2" }
  - match: "ratelimit.service.rate_limit.*.*.total_hits"
    name: "ratelimit_service_rate_limit_total_hits"
    labels: { domain: "$1", key1: "$2" }
  - match: "ratelimit.service.rate_limit.*.*.within_limit"
    name: "ratelimit_service_rate_limit_within_limit"
    labels: { domain: "$1", key1: "$2" }
  - match: "ratelimit.service.rate_limit.*.*.shadow_mode"
    name: "ratelimit_service_rate_limit_shadow_mode"
    labels: { domain: "$1", key1: "$2" }
  - match: "ratelimit.service.rate_limit.*.*.over_limit_with_local_cache"
    name: "ratelimit_service_rate_limit_over_limit_with_local_cache"
    labels: { domain: "$1", key1: "$2" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.near_limit'
    match_type: regex
    name: "ratelimit_service_rate_limit_near_limit"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.over_limit'
    match_type: regex
    name: "ratelimit_service_rate_limit_over_limit"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.total_hits'
    match_type: regex
    name: "ratelimit_service_rate_limit_total_hits"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.within_limit'
    match_type: regex
    name: "ratelimit_service_rate_limit_within_limit"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.shadow_mode'
    match_type: regex
    name: "ratelimit_service_rate_limit_shadow_mode"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: 'ratelimit\\.service\\.rate_limit\\.([^.]*)\\.([^.]*)\\.([^.]*)(\\..*)?\\.over_limit_with_local_cache'
    match_type: regex
    name: "ratelimit_service_rate_limit_over_limit_with_local_cache"
    labels: { domain: "$1", key1: "$2", key2: "$3" }
  - match: "ratelimit.service.call.should_rate_limit.*"
    name: "ratelimit_service_should_rate_limit_error"
    match_metric_type: counter
    labels: { err_type: "$1" }
  - match: "ratelimit_server.*.total_requests"
    name: "ratelimit_service_total_requests"
    match_metric_type: counter
    labels: { grpc_method: "$1" }
  - match: "ratelimit_server.*.response_time"
    name: "ratelimit_service_response_time_seconds"
    timer_type: histogram
    labels: { grpc_method: "$1" }
  - match: "ratelimit.service.config_load_success"
    name: "ratelimit_service_config_load_success"
    match_metric_type: counter
  - match: "ratelimit.service.config_load_error"
    name: "ratelimit_service_config_load_error"
    match_metric_type: counter
`;
