import type { Logger } from 'pino';
import type { Counter, Histogram } from 'prom-client';
import { STATUS_CLASSES, statusClassIndex, type AgentMetrics } from '../observability/metrics.js';
import type { RequestLog } from '../observability/request-log.js';
import type { RequestContext } from './request-context.js';

/** A route's metric children, one per status class, looked up once and kept. */
interface RouteChildren {
  requests: Array<Counter.Internal | undefined>;
  duration: Array<Histogram.Internal<'host' | 'status_class'> | undefined>;
}

/** Routes whose metric children are kept; past this the cache starts again (the label set is bounded anyway). */
const MAX_ROUTES = 10_000;

/**
 * The pipeline's last phase: every request, whatever its kind and however it ended, is recorded here
 * once: metrics, the access log line and the /requests ring. Metric children are cached per route
 * and status class (prom-client would otherwise hash a label object per observation), the ring copies
 * fields without building a record, and the access log line is built only when the level lets it out.
 */
export class RequestRecorder {
  private readonly children = new Map<string, RouteChildren>();
  private readonly bytesIn: Counter.Internal | null;
  private readonly bytesOut: Counter.Internal | null;

  constructor(
    private readonly metrics: AgentMetrics | undefined,
    private readonly requests: RequestLog | undefined,
    /** null: no access log */
    private readonly access: Logger | null,
    /** a request that failed at the origin or was refused, for the dashboard's activity list */
    private readonly onError?: (ctx: RequestContext) => void,
  ) {
    this.bytesIn = metrics?.bytes.labels('in') ?? null;
    this.bytesOut = metrics?.bytes.labels('out') ?? null;
  }

  record(ctx: RequestContext): void {
    const ms = ctx.elapsedMs();
    const metrics = this.metrics;
    if (metrics !== undefined) {
      const c = statusClassIndex(ctx.status);
      const route = this.childrenOf(ctx.route);
      const requests = (route.requests[c] ??= metrics.requests.labels(
        ctx.route,
        STATUS_CLASSES[c] as string,
      ));
      const duration = (route.duration[c] ??= metrics.duration.labels(
        ctx.route,
        STATUS_CLASSES[c] as string,
      ));
      requests.inc();
      duration.observe(ms / 1000);
      if (ctx.bytesIn > 0) this.bytesIn?.inc(ctx.bytesIn);
      if (ctx.bytesOut > 0) this.bytesOut?.inc(ctx.bytesOut);
    }
    this.requests?.add(ctx, ms);
    if (ctx.error !== undefined) this.onError?.(ctx);
    const access = this.access;
    if (access === null) return;
    const line = {
      method: ctx.method,
      host: ctx.authority,
      path: ctx.path,
      status: ctx.status,
      durationMs: ms,
      endpoint: ctx.endpoint,
      bytesIn: ctx.bytesIn,
      bytesOut: ctx.bytesOut,
      ray: ctx.ray,
      error: ctx.error,
    };
    access.info(line, 'request');
  }

  private childrenOf(route: string): RouteChildren {
    let c = this.children.get(route);
    if (c === undefined) {
      if (this.children.size >= MAX_ROUTES) this.children.clear();
      c = { requests: [], duration: [] };
      this.children.set(route, c);
    }
    return c;
  }
}
