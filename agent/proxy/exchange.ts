import type http2 from 'node:http2';
import { Transform, type Duplex, type Readable, type TransformCallback, type Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { AgentMetrics } from '../observability/metrics.js';
import type { Upstream } from '../routing/upstreams.js';
import { NOTHING_SENT, originError } from './origin-error.js';
import { editResponseHeaders } from './header-edits.js';
import { answerLocally } from './local-answer.js';
import { feedMirrors } from './request-mirror.js';
import { responseHeaders } from './origin-headers.js';
import type { RequestContext } from './request-context.js';
import type { RequestRecorder } from './request-recorder.js';

/** What an exchange needs from the agent, and nothing more. */
export interface ExchangeDeps {
  readonly log: Logger;
  readonly metrics: AgentMetrics | undefined;
  readonly recorder: RequestRecorder;
}

/** Where the tunnel stream's listeners find the exchange (module-level listeners, no closures). */
export const EXCHANGE = Symbol('exchange');
export type TunnelStream = Duplex & { [EXCHANGE]?: Exchange };

/** Retries: at most 2, to other endpoints (cloudflared's default is no retry; an ingress does). */
const MAX_RETRIES = 2;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Why an exchange ended early when the edge canceled its stream (abort's default). */
export const EDGE_CANCELED = 'the edge canceled the stream';

export const UNREACHABLE =
  'Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared';

/** An endpoint's identity in its Upstream: the http:// form, whichever scheme the request uses. */
export function endpointKeyOf(origin: string): string {
  return origin.charCodeAt(4) === 115 /* https */ ? `http:${origin.slice(6)}` : origin;
}

/**
 * One request in flight to an origin, whichever protocol carries it (HTTP/1.1 through undici, HTTP/2
 * through node:http2, a websocket through node:http): the pipeline's exchange and respond phases.
 * What every kind does with the response, the accounting, and when a failure may go to another
 * endpoint live here; subclasses only move bytes. The request's context carries what is recorded.
 */
export abstract class Exchange {
  /** recorded and done with: the response ended, failed, or the edge canceled */
  finished = false;
  protected readonly stream: TunnelStream;
  /** the origin's status; 0 until its response starts */
  protected status = 0;
  /** a long-lived stream (server-sent events, gRPC, websocket), counted while it lasts */
  private long: 'sse' | 'grpc' | 'websocket' | null = null;
  private retries = 0;
  /** endpoints tried (created on the first retry only) */
  private tried: Set<string> | null = null;
  /** the route's timeout, while it runs */
  private timer: NodeJS.Timeout | null = null;

  constructor(
    protected readonly deps: ExchangeDeps,
    readonly ctx: RequestContext,
    /** http://ip:port or https://ip:port: the endpoint this attempt goes to */
    protected origin: string,
    /** the Service's endpoints, for passive health and retries (absent in static mode) */
    protected readonly upstream: Upstream | undefined,
    /** no body: a failed attempt cannot have half-sent one */
    private readonly retryable: boolean,
    grpc: boolean,
  ) {
    deps.metrics?.inflight.inc();
    if (upstream?.tracksLoad === true) upstream.acquire(endpointKeyOf(origin));
    if (grpc) this.countLong('grpc');
    const stream = ctx.stream as TunnelStream;
    this.stream = stream;
    stream[EXCHANGE] = this;
    stream.on('close', onStreamClose);
    stream.on('drain', onStreamDrain);
    if (ctx.timeoutMs > 0)
      this.timer = setTimeout(
        onTimeout,
        Math.max(1, ctx.timeoutMs - (performance.now() - ctx.started)),
        this,
      );
  }

  /** Stop the origin request and record the exchange with `reason` (the edge canceled, by default). */
  abstract abort(reason?: string): void;

  /**
   * The route's timeout passed before the response was complete: 504 when nothing was sent yet, a
   * broken stream when the response had started (never a complete-looking short one).
   */
  timedOut(): void {
    this.timer = null;
    const { stream, ctx } = this;
    if (this.finished || stream.destroyed) return;
    const reason = `the route's timeout of ${ctx.timeoutMs} ms passed`;
    this.deps.metrics?.originErrors.inc({ reason: 'ORIGIN_ROUTE_TIMEOUT' });
    this.deps.log.warn(
      { origin: this.origin, method: ctx.method, path: ctx.path, code: 'ORIGIN_ROUTE_TIMEOUT' },
      'origin request timed out',
    );
    if (this.status === 0 && !ctx.responder.headersSent(stream)) {
      answerLocally(ctx, 504, `Gateway Timeout: ${reason}.`);
      this.status = 504;
    } else ctx.responder.abort(stream);
    this.abort(reason);
  }
  /** The tunnel stream drained: read from the origin again. */
  abstract resume(): void;

  private stopTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  protected get endpointKey(): string {
    return endpointKeyOf(this.origin);
  }

  protected countLong(kind: 'sse' | 'grpc' | 'websocket'): void {
    this.long = kind;
    this.deps.metrics?.longStreams.inc({ kind });
    this.deps.metrics?.longStreamsTotal.inc({ kind });
  }

  /**
   * After a failure before any response: moves the exchange (its origin and accounting) to the next
   * endpoint when a retry is safe (a connect failure sent nothing, not even the part of a body it
   * never read; an idempotent request without a body whose connection closed before any answer may
   * be sent again). False when it is not.
   */
  protected moveToNextEndpoint(err: Error, tls: boolean, body: Readable | null = null): boolean {
    const up = this.upstream;
    const oe = originError(err, this.status !== 0);
    const code = oe.code;
    const connectFailure = NOTHING_SENT.has(code);
    if (connectFailure) up?.connectFailed(this.endpointKey);
    if (up === undefined || this.retries >= MAX_RETRIES || this.status !== 0) return false;
    // A body can go again only when not a byte of it was read: a connect that failed sent nothing.
    const bodyIntact = connectFailure && body !== null && !body.readableDidRead && !body.destroyed;
    if (!this.retryable && !bodyIntact) return false;
    const method = this.ctx.method;
    if (
      !connectFailure &&
      !(code === 'ORIGIN_CLOSED' && oe.phase === 'before-response' && IDEMPOTENT.has(method))
    )
      return false;
    this.tried ??= new Set();
    this.tried.add(this.endpointKey);
    const ep = up.next(this.tried);
    if (ep === null) return false;
    this.retries++;
    this.deps.log.info(
      { from: this.origin, to: ep.origin, method, path: this.ctx.path, code, retry: this.retries },
      'origin request retried on another endpoint',
    );
    if (up.tracksLoad) {
      up.release(this.endpointKey);
      up.acquire(ep.origin);
    }
    this.origin = tls ? ep.tlsOrigin : ep.origin;
    return true;
  }

  /** The origin's response head, to the tunnel. `trailers`: the origin may follow up with trailers. */
  protected startResponse(statusCode: number, headers: http2.IncomingHttpHeaders, trailers: boolean): void {
    const list = responseHeaders(headers);
    const edits = this.ctx.edits;
    this.startResponseWith(
      statusCode,
      edits === undefined || edits.response.length === 0 ? list : editResponseHeaders(list, edits),
      headers['content-length'],
      trailers,
    );
    const ct = headers['content-type'];
    if (this.long === null && typeof ct === 'string' && ct.startsWith('text/event-stream'))
      this.countLong('sse');
  }

  /** The respond phase's head: status and a ready header list. */
  protected startResponseWith(
    statusCode: number,
    list: string[],
    contentLength: string | string[] | undefined,
    trailers: boolean,
  ): void {
    const { stream, ctx } = this;
    if (stream.destroyed || ctx.responder.headersSent(stream)) return;
    this.status = statusCode;
    // A websocket's request ends with its upgrade: the route's timeout does not cover the session.
    if (statusCode === 101) this.stopTimer();
    this.upstream?.connected(this.endpointKey);
    ctx.responder.respond(
      stream,
      statusCode,
      list,
      typeof contentLength === 'string' ? contentLength : undefined,
      trailers && ctx.trailers,
    );
  }

  /** Body bytes to the tunnel; false: pause the origin until the stream drains. */
  protected sendData(chunk: Buffer): boolean {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return true;
    this.ctx.bytesOut += chunk.length;
    return this.ctx.responder.data(stream, chunk);
  }

  protected endResponse(trailers: http2.IncomingHttpHeaders | null): void {
    this.finish(undefined);
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    const list = trailers === null ? null : responseHeaders(trailers);
    this.ctx.responder.end(stream, list !== null && list.length > 0 ? list : null);
  }

  /** A failure nothing can retry: 502 before the response, a broken stream after it started. */
  protected failed(err: Error): void {
    const stream = this.stream;
    if (this.finished || stream.destroyed) return;
    const { log, metrics } = this.deps;
    const oe = originError(err, this.status !== 0);
    metrics?.originErrors.inc({ reason: oe.code });
    this.finish(err.message);
    const { responder, method, path } = this.ctx;
    const code = oe.code;
    const cause = (err as NodeJS.ErrnoException).code;
    if (this.status === 0 && !responder.headersSent(stream)) {
      log.warn({ origin: this.origin, method, path, err: err.message, code, cause }, 'origin request failed');
      responder.fail(stream, UNREACHABLE);
      return;
    }
    // The response already started: break the stream so the visitor sees a broken response, never a
    // complete-looking short one.
    log.warn({ origin: this.origin, path, err: err.message, code, cause }, 'origin response failed mid-body');
    responder.abort(stream);
  }

  /** Ends the exchange once: the record phase (metrics, the access log and /requests). */
  protected finish(error: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimer();
    const metrics = this.deps.metrics;
    metrics?.inflight.dec();
    if (this.upstream?.tracksLoad === true) this.upstream.release(this.endpointKey);
    if (this.long !== null) metrics?.longStreams.dec({ kind: this.long });
    const ctx = this.ctx;
    ctx.status = this.status || 502;
    ctx.endpoint = this.origin.slice(this.origin.indexOf('//') + 2);
    ctx.error = error;
    this.deps.recorder.record(ctx);
  }
}

function onStreamClose(this: TunnelStream): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined && !ex.finished) ex.abort();
}

function onTimeout(ex: Exchange): void {
  ex.timedOut();
}

function onStreamDrain(this: TunnelStream): void {
  this[EXCHANGE]?.resume();
}

/**
 * A request body for the origin, counting bytes as they pass. undici destroys a stream body once sent,
 * and the tunnel stream is a duplex whose response side must outlive that, so the origin gets a
 * readable of its own. Counting in _transform leaves the flow to the reader: a 'data' listener here
 * would start the stream flowing before it reads, and lose what passed in between.
 */
export class CountedBody extends Transform {
  constructor(
    private readonly ctx: RequestContext,
    /** RequestMirror copies of the body, fed as it passes (request-mirror.ts) */
    private readonly copies: readonly Writable[] | null = null,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.ctx.bytesIn += chunk.length;
    if (this.copies !== null) feedMirrors(this.copies, chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.copies !== null) for (const c of this.copies) if (!c.destroyed) c.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    // The original's body broke off: its copies must not look complete.
    if (this.copies !== null) for (const c of this.copies) if (!c.writableEnded) c.destroy();
    cb(err);
  }
}
