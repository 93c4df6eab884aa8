import type { Logger } from 'pino';
import type { TunnelRequest } from '../../tunnel/responder.js';
import type { AgentMetrics } from '../observability/metrics.js';
import { PLAIN } from '../routing/origin-options.js';
import type { Resolution, Resolver } from '../routing/resolvers.js';
import { normalizeHost } from '../routing/route-table.js';
import { CountedBody, type ExchangeDeps } from './exchange.js';
import { GRPC_UNIMPLEMENTED, answerGrpc, isGrpc } from './grpc.js';
import { H2Exchange } from './h2-exchange.js';
import { editRequestHeaders } from './header-edits.js';
import { answerLocally } from './local-answer.js';
import { h2Headers, originHeaders } from './origin-headers.js';
import type { OriginPools } from './origin-pools.js';
import { RequestContext } from './request-context.js';
import { RequestMirrors } from './request-mirror.js';
import { framingProblem } from './request-framing.js';
import { normalizeRequestPath } from './request-path.js';
import type { RequestRecorder } from './request-recorder.js';
import { UndiciExchange } from './undici-exchange.js';
import { WebsocketExchange } from './websocket-exchange.js';

/** A resolution that goes to an origin. */
type Routed = Exclude<Resolution, { status: number }>;

export interface PipelineOptions {
  resolve: Resolver;
  /** sent to origins as Cf-Warp-Tag-Id, as cloudflared does */
  connectorId: string;
  log: Logger;
  metrics?: AgentMetrics;
  recorder: RequestRecorder;
  pools: OriginPools;
}

/** gRPC over a tunnel stream that cannot carry trailers: refused up front, before the origin sees it. */
const NO_TRAILERS =
  'gRPC needs response trailers, which this tunnel stream cannot carry: the edge did not offer the QUIC trailers extension (tunnel_ingress_trailers_v1); run the agent with --protocol http2';

const TCP_REFUSED = 'TCP streams are not supported';

/**
 * Every request the edge sends, whatever its transport and kind (HTTP, gRPC, websocket), passes the
 * same phases in this order:
 *
 * 1. refuse: what must not reach an origin is answered here (framing and smuggling checks, a path
 *    that cannot be normalized safely, TCP streams an ingress does not serve);
 * 2. resolve: the route and the endpoint for the normalized path, or the agent's own answer (404, 503,
 *    gRPC on a stream without trailers);
 * 3. exchange: by kind, HTTP/1.1 through undici, HTTP/2 and gRPC through node:http2, websocket through
 *    node:http (proxy/*-exchange.ts);
 * 4. respond: the origin's head, body and trailers to the tunnel (Exchange's respond methods over the
 *    transport's Responder);
 * 5. record: metrics, access log and /requests, once per request (RequestRecorder).
 *
 * A request's state lives in one RequestContext made when it arrives; exchanges get the context and
 * narrow dependencies (logger, metrics, recorder), never the pipeline.
 */
export class RequestPipeline {
  private readonly deps: ExchangeDeps;
  private readonly mirrors: RequestMirrors;

  constructor(private readonly opts: PipelineOptions) {
    this.deps = { log: opts.log, metrics: opts.metrics, recorder: opts.recorder };
    this.mirrors = new RequestMirrors(opts.pools, opts.log, opts.metrics);
  }

  serve(req: TunnelRequest): void {
    const ctx = new RequestContext(req);
    if (this.refuse(ctx)) return;
    const target = this.resolve(ctx);
    if (target !== null) this.exchange(ctx, target);
  }

  /** Phase 1. True when the request was refused (answered and recorded). */
  refuse(ctx: RequestContext): boolean {
    if (ctx.kind === 'tcp') {
      ctx.stream.on('error', ignore);
      ctx.responder.fail(ctx.stream, TCP_REFUSED);
      ctx.status = 502;
      ctx.error = TCP_REFUSED;
      this.opts.recorder.record(ctx);
      return true;
    }
    const framing = framingProblem(ctx.headers);
    const path = framing === null ? normalizeRequestPath(ctx.rawPath) : null;
    if (typeof path === 'string') {
      ctx.path = path;
      return false;
    }
    const reason = framing ?? (path as { reason: string }).reason;
    this.opts.log.warn({ host: ctx.authority, path: ctx.rawPath, reason }, 'request refused');
    answerLocally(ctx, 400, `Bad request: ${reason}.`);
    ctx.error = reason;
    this.opts.recorder.record(ctx);
    return true;
  }

  /** Phase 2. Null when the agent answered itself (and recorded it). */
  resolve(ctx: RequestContext): Routed | null {
    const target = this.opts.resolve(normalizeHost(ctx.authority), ctx.path, ctx.method, ctx.headers);
    ctx.route = target.route;
    if ('status' in target) {
      // A visitor with no route gets the HTML page even for gRPC: its client maps 404 and 503 to
      // UNIMPLEMENTED and UNAVAILABLE.
      answerLocally(ctx, target.status, target.message, target.location, target.headers);
      this.opts.recorder.record(ctx);
      return null;
    }
    if (ctx.kind === 'http' && !ctx.trailers && isGrpc(ctx.headers['content-type'])) {
      answerGrpc(ctx.stream, ctx.responder, GRPC_UNIMPLEMENTED, NO_TRAILERS);
      ctx.status = 200;
      ctx.error = 'gRPC without trailers';
      this.opts.recorder.record(ctx);
      return null;
    }
    ctx.path = target.path;
    ctx.edits = target.edits;
    if (target.timeoutMs !== undefined) ctx.timeoutMs = target.timeoutMs;
    return target;
  }

  /**
   * Phase 3, by kind; the exchange then responds (phase 4) and records (phase 5) as the origin
   * answers. A route's RequestMirror copies leave here too, beside the exchange, never in its way.
   */
  exchange(ctx: RequestContext, target: Routed): void {
    const { pools, connectorId } = this.opts;
    let headers = originHeaders(ctx.headers, ctx.authority, connectorId);
    const copies =
      target.mirrors === undefined || ctx.kind === 'websocket'
        ? null
        : this.mirrors.start(ctx, target.mirrors, headers);
    if (ctx.edits !== undefined) headers = editRequestHeaders(headers, ctx.edits);
    const options = target.options ?? PLAIN;
    if (ctx.kind === 'websocket') {
      ctx.stream.on('error', ignore);
      const ex = new WebsocketExchange(this.deps, ctx, target.origin, target.upstream, false, false);
      ex.start(headers, options.websocketIdleMs ?? 0);
      return;
    }
    const grpc = isGrpc(ctx.headers['content-type']);
    // Without a body, any safe failure may go to another endpoint; with one, only a failed connect
    // that read none of it (the exchange checks).
    const retryable = !ctx.hasBody;
    if (options.h2) {
      const ex = new H2Exchange(this.deps, ctx, target.origin, target.upstream, retryable, grpc);
      pools.warnIfInsecure(options);
      const body = ctx.hasBody ? ctx.stream.pipe(new CountedBody(ctx, copies)) : null;
      ex.start(
        pools.h2,
        options,
        h2Headers(ctx.method, ctx.path, options.tls, headers, ctx.headers, grpc),
        body,
      );
      return;
    }
    const ex = new UndiciExchange(this.deps, ctx, target.origin, target.upstream, retryable, grpc);
    const body = ctx.hasBody ? ctx.stream.pipe(new CountedBody(ctx, copies)) : null;
    ex.start(pools.agentFor(target.options), options.tls, headers, body);
  }

  close(): Promise<void> {
    return this.opts.pools.close();
  }
}

function ignore(): void {}
