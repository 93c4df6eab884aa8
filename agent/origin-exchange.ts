import type http2 from 'node:http2';
import { Transform, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import { canonicalHeaderName } from '../tunnel/header-packing.js';
import { connectionTokens, isHopByHop } from '../tunnel/hop-by-hop.js';
import type { Responder } from '../tunnel/responder.js';
import type { OriginProxy } from './origin-proxy.js';
import type { Upstream } from './upstreams.js';

/**
 * One request in flight to an origin, whichever protocol carries it (HTTP/1.1 through undici, HTTP/2
 * through node:http2): what both do with the response, the accounting, and when a failure may go to
 * another endpoint. Subclasses only move bytes.
 */
export const EXCHANGE = Symbol('exchange');
export type TunnelStream = Duplex & { [EXCHANGE]?: Exchange };

/** Retries: at most 2, to other endpoints (cloudflared's default is no retry; an ingress does). */
const MAX_RETRIES = 2;
export const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const CLOSED_BEFORE_ANSWER = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'ERR_HTTP2_GOAWAY_SESSION']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export const UNREACHABLE =
  'Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared';

const canonicalCache = new Map<string, string>();
function canonical(lower: string): string {
  let c = canonicalCache.get(lower);
  if (c === undefined) {
    c = canonicalHeaderName(lower);
    if (canonicalCache.size < 10_000) canonicalCache.set(lower, c);
  }
  return c;
}

/** An endpoint's identity in its Upstream: the http:// form, whichever scheme the request uses. */
export function endpointKeyOf(origin: string): string {
  return origin.charCodeAt(4) === 115 /* https */ ? `http:${origin.slice(6)}` : origin;
}

/** Header pairs for the tunnel: Go-canonical names, one pair per value, without hop-by-hop ones. */
function pairsOf(headers: http2.IncomingHttpHeaders): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const listed = connectionTokens(headers.connection);
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name) || (listed !== null && listed.has(name)))
      continue;
    const v = headers[name];
    if (v === undefined) continue;
    const cname = canonical(name);
    if (typeof v === 'string') pairs.push([cname, v]);
    else for (let i = 0; i < v.length; i++) pairs.push([cname, v[i] as string]);
  }
  return pairs;
}

export abstract class Exchange {
  /** recorded and done with: the response ended, failed, or the edge canceled */
  finished = false;
  bytesIn = 0;
  protected bytesOut = 0;
  /** the origin's status; 0 until its response starts */
  protected status = 0;
  /** a long-lived stream (server-sent events, gRPC), counted while it lasts */
  private long: 'sse' | 'grpc' | null = null;
  private retries = 0;
  /** endpoints tried (created on the first retry only) */
  private tried: Set<string> | null = null;

  constructor(
    protected readonly proxy: OriginProxy,
    protected readonly stream: TunnelStream,
    protected readonly responder: Responder,
    protected readonly method: string,
    protected readonly path: string,
    protected origin: string,
    private readonly host: string,
    private readonly route: string,
    private readonly started: number,
    private readonly ray: string | string[] | undefined,
    /** the Service's endpoints, for passive health and retries (absent in static mode) */
    protected readonly upstream: Upstream | undefined,
    /** no body: a failed attempt cannot have half-sent one */
    private readonly retryable: boolean,
    /** the tunnel stream can carry trailers */
    protected readonly trailers: boolean,
    grpc: boolean,
  ) {
    proxy.opts.metrics?.inflight.inc();
    if (upstream?.tracksLoad === true) upstream.acquire(endpointKeyOf(origin));
    if (grpc) this.countLong('grpc');
    stream[EXCHANGE] = this;
    stream.on('close', onStreamClose);
    stream.on('drain', onStreamDrain);
  }

  /** The edge canceled: stop the origin request. */
  abstract abort(): void;
  /** The tunnel stream drained: read from the origin again. */
  abstract resume(): void;

  protected get endpointKey(): string {
    return endpointKeyOf(this.origin);
  }

  private countLong(kind: 'sse' | 'grpc'): void {
    this.long = kind;
    this.proxy.opts.metrics?.longStreams.inc({ kind });
    this.proxy.opts.metrics?.longStreamsTotal.inc({ kind });
  }

  /**
   * After a failure before any response: moves the exchange (its origin and accounting) to the next
   * endpoint when a retry is safe (a connect failure sent nothing, not even the part of a body it
   * never read; an idempotent request without a body whose connection closed before any answer may
   * be sent again). False when it is not.
   */
  protected moveToNextEndpoint(err: Error, tls: boolean, body: Readable | null = null): boolean {
    const up = this.upstream;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const connectFailure = CONNECT_FAILURES.has(code);
    if (connectFailure) up?.connectFailed(this.endpointKey);
    if (up === undefined || this.retries >= MAX_RETRIES || this.status !== 0) return false;
    // A body can go again only when not a byte of it was read: a connect that failed sent nothing.
    const bodyIntact = connectFailure && body !== null && !body.readableDidRead && !body.destroyed;
    if (!this.retryable && !bodyIntact) return false;
    if (!connectFailure && !(CLOSED_BEFORE_ANSWER.has(code) && IDEMPOTENT.has(this.method))) return false;
    this.tried ??= new Set();
    this.tried.add(this.endpointKey);
    const ep = up.next(this.tried);
    if (ep === null) return false;
    this.retries++;
    this.proxy.opts.log.info(
      { from: this.origin, to: ep.origin, method: this.method, path: this.path, code, retry: this.retries },
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
    const stream = this.stream;
    if (stream.destroyed || this.responder.headersSent(stream)) return;
    const pairs = pairsOf(headers);
    const cl = headers['content-length'];
    this.status = statusCode;
    this.upstream?.connected(this.endpointKey);
    const ct = headers['content-type'];
    if (this.long === null && typeof ct === 'string' && ct.startsWith('text/event-stream'))
      this.countLong('sse');
    this.responder.respond(
      stream,
      statusCode,
      pairs,
      typeof cl === 'string' ? cl : undefined,
      trailers && this.trailers,
    );
  }

  /** Body bytes to the tunnel; false: pause the origin until the stream drains. */
  protected sendData(chunk: Buffer): boolean {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return true;
    this.bytesOut += chunk.length;
    return this.responder.data(stream, chunk);
  }

  protected endResponse(trailers: http2.IncomingHttpHeaders | null): void {
    this.finish(undefined);
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    const pairs = trailers === null ? null : pairsOf(trailers);
    this.responder.end(stream, pairs !== null && pairs.length > 0 ? pairs : null);
  }

  /** A failure nothing can retry: 502 before the response, a broken stream after it started. */
  protected failed(err: Error): void {
    const stream = this.stream;
    if (this.finished || stream.destroyed) return;
    const { log, metrics } = this.proxy.opts;
    const code = (err as NodeJS.ErrnoException).code;
    metrics?.originErrors.inc({ reason: code ?? err.name });
    this.finish(err.message);
    if (this.status === 0 && !this.responder.headersSent(stream)) {
      log.warn(
        { origin: this.origin, method: this.method, path: this.path, err: err.message, code },
        'origin request failed',
      );
      this.responder.fail(stream, UNREACHABLE);
      return;
    }
    // The response already started: break the stream so the visitor sees a broken response, never a
    // complete-looking short one.
    log.warn({ origin: this.origin, path: this.path, err: err.message }, 'origin response failed mid-body');
    this.responder.abort(stream);
  }

  /** Ends the exchange once: metrics, the access log and /requests. */
  protected finish(error: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    const metrics = this.proxy.opts.metrics;
    metrics?.inflight.dec();
    if (this.upstream?.tracksLoad === true) this.upstream.release(this.endpointKey);
    if (this.long !== null) metrics?.longStreams.dec({ kind: this.long });
    const endpoint = this.origin.slice(this.origin.indexOf('//') + 2);
    this.proxy.record(
      this.method,
      this.host,
      this.path,
      this.route,
      this.status || 502,
      this.started,
      endpoint,
      this.bytesIn,
      this.bytesOut,
      this.ray,
      error,
    );
  }
}

function onStreamClose(this: TunnelStream): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined && !ex.finished) ex.abort();
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
  constructor(private readonly exchange: Exchange) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.exchange.bytesIn += chunk.length;
    cb(null, chunk);
  }
}
