import client from 'prom-client';

/**
 * The agent's Prometheus metrics, all named tunnel_ingress_*, plus Node's process metrics. Label values
 * are bounded: hosts are the route's host (or "unmatched"), never whatever a visitor sent.
 */
export class AgentMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'tunnel_ingress_requests_total',
    help: 'Requests proxied, by route host and status class',
    labelNames: ['host', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly duration = new client.Histogram({
    name: 'tunnel_ingress_request_duration_seconds',
    help: 'Time from the stream opening to the end of the response',
    labelNames: ['host', 'status_class'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly originErrors = new client.Counter({
    name: 'tunnel_ingress_origin_errors_total',
    help: 'Requests that failed at the origin, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly cachePurges = new client.Counter({
    name: 'tunnel_ingress_cache_purges_total',
    help: 'Edge cache purges after a Service rolled out (purge-on-rollout Ingresses), by result: ok, error',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly mirrors = new client.Counter({
    name: 'tunnel_ingress_mirror_requests_total',
    help: "Copies of requests sent to a Gateway API route's RequestMirror backend, by result: sent (answered, whatever the status), failed (no endpoint, an error, too slow, or its body too far behind the original), dropped (over the in-flight bound)",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly inflight = new client.Gauge({
    name: 'tunnel_ingress_streams_in_flight',
    help: 'Request streams being proxied now',
    registers: [this.registry],
  });
  readonly bytes = new client.Counter({
    name: 'tunnel_ingress_bytes_total',
    help: 'Body bytes proxied: in = from visitors to origins, out = from origins to visitors',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  readonly connections = new client.Gauge({
    name: 'tunnel_ingress_tunnel_connections',
    help: 'Registered tunnel connections (1 per registered index)',
    labelNames: ['index', 'location', 'protocol'] as const,
    registers: [this.registry],
  });
  readonly reconnects = new client.Counter({
    name: 'tunnel_ingress_tunnel_reconnects_total',
    help: 'Tunnel connections lost and dialled again',
    labelNames: ['index'] as const,
    registers: [this.registry],
  });
  readonly registrationFailures = new client.Counter({
    name: 'tunnel_ingress_tunnel_registration_failures_total',
    help: 'Failed attempts to dial and register a tunnel connection, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new client.Histogram({
    name: 'tunnel_ingress_reconcile_duration_seconds',
    help: 'Time a reconcile of one key took, by key kind (routes, endpoints, status)',
    labelNames: ['kind'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly reconcileErrors = new client.Counter({
    name: 'tunnel_ingress_reconcile_errors_total',
    help: 'Reconciles that failed and were retried, by key kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly leader = new client.Gauge({
    name: 'tunnel_ingress_leader',
    help: '1 when this replica holds the Lease',
    registers: [this.registry],
  });
  readonly routeGeneration = new client.Gauge({
    name: 'tunnel_ingress_route_table_generation',
    help: 'Generation of the route table in use',
    registers: [this.registry],
  });

  readonly longStreams = new client.Gauge({
    name: 'tunnel_ingress_long_streams',
    help: 'Long-lived streams open now, by kind (websocket, sse, grpc)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly longStreamsTotal = new client.Counter({
    name: 'tunnel_ingress_long_streams_total',
    help: 'Long-lived streams opened, by kind (websocket, sse, grpc)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly dnsOperations = new client.Counter({
    name: 'tunnel_ingress_dns_operations_total',
    help: 'Cloudflare DNS changes by operation (create, update, delete) and result (ok, error, dry_run)',
    labelNames: ['op', 'result'] as const,
    registers: [this.registry],
  });
  readonly dnsConflicts = new client.Gauge({
    name: 'tunnel_ingress_dns_conflicts',
    help: 'Hostnames of our Ingresses held by DNS records this agent does not own',
    registers: [this.registry],
  });
  readonly dnsSyncs = new client.Counter({
    name: 'tunnel_ingress_dns_syncs_total',
    help: 'DNS synchronisations by result (ok, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly cloudflareRateLimited = new client.Counter({
    name: 'tunnel_ingress_cloudflare_api_rate_limited_total',
    help: 'Cloudflare API answers of 429 (each pauses every call for its Retry-After)',
    registers: [this.registry],
  });

  readonly quicUdpSend = new client.Gauge({
    name: 'tunnel_ingress_quic_udp_send',
    help: 'How QUIC packets reach the kernel, 1 for the way in use: sendmmsg (one system call per flush, the optional addon) or dgram (one per packet)',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });
  readonly logLinesDropped = new client.Counter({
    name: 'tunnel_ingress_log_lines_dropped_total',
    help: 'Log lines dropped because stdout was blocked and 16 MiB of lines were waiting',
    registers: [this.registry],
  });

  constructor() {
    // Node's event-loop delay is sampled every 100 ms rather than prom-client's 10 ms: 10 wake-ups a
    // second instead of 110 at idle, and the percentiles still see every stall longer than that.
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }
}

/** The status_class label's values; `statusClassIndex(204)` is the index of "2xx". */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
export function statusClassIndex(status: number): number {
  const i = Math.floor(status / 100) - 1;
  return i >= 0 && i < 5 ? i : 5;
}
