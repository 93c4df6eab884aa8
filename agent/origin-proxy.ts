import type http2 from 'node:http2';
import tls from 'node:tls';
import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import type { Logger } from 'pino';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { TunnelError } from '../tunnel/errors.js';
import { canonicalHeaderName, isTunnelInternalHeader } from '../tunnel/header-packing.js';
import type { Responder, TunnelRequest } from '../tunnel/responder.js';
import { connectionTokens, isHopByHop } from '../tunnel/hop-by-hop.js';
import { statusClass, type AgentMetrics } from './metrics.js';
import type { RequestLog } from './request-log.js';
import { normalizeHost } from './routing/route-table.js';
import type { Upstream } from './upstreams.js';
import { PLAIN, type OriginOptions } from './routing/origin-options.js';

/**
 * Proxies one tunnel stream to an origin over HTTP/1.1 with undici's keep-alive pools (one per
 * endpoint). A resolver picks the endpoint for the request's host and path, or answers itself (404 with
 * no route, 503 with no ready endpoint). Bodies stream both ways with backpressure; nothing is buffered
 * whole. Listeners are module-level functions that find their exchange through the stream, so the hot
 * path allocates one object per request.
 */
/** `route` is the matched rule's host (bounded, for metric labels), not the visitor's Host. */
export type Resolution =
  | { origin: string; path: string; route: string; upstream?: Upstream; options?: OriginOptions }
  | { status: number; message: string; route: string };

/** host: lower case, no port; path: as requested, with its query; headers for hash load balancing. */
export type Resolver = (host: string, path: string, headers?: http2.IncomingHttpHeaders) => Resolution;

export interface OriginProxyOptions {
  resolve: Resolver;
  connectorId: string;
  log: Logger;
  metrics?: AgentMetrics;
  requests?: RequestLog;
  /** one info line per request (host, path, status, duration, endpoint, bytes, Cf-Ray) */
  accessLog?: boolean;
  /** cloudflared's defaults: 100 idle connections, 90 s idle timeout, 30 s connect timeout. */
  keepAliveConnections?: number;
  keepAliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  responseHeaderTimeoutMs?: number;
}

const EXCHANGE = Symbol('exchange');

/** Retries: at most 2, to other endpoints (cloudflared's default is no retry; an ingress does). */
const MAX_RETRIES = 2;
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const CLOSED_BEFORE_ANSWER = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
type TunnelStream = Duplex & { [EXCHANGE]?: OriginExchange };

/** Request headers the tunnel uses for itself and never forwards. */
const DROP_REQUEST = new Set([
  'cf-cloudflared-proxy-connection-upgrade',
  'cf-cloudflared-proxy-src',
  'cf-trace-id',
  'host',
  // The edge answers 100-continue to the visitor itself (as Cloudflare does) and sends the body on;
  // undici refuses Expect outright.
  'expect',
]);

const canonicalCache = new Map<string, string>();
function canonical(lower: string): string {
  let c = canonicalCache.get(lower);
  if (c === undefined) {
    c = canonicalHeaderName(lower);
    if (canonicalCache.size < 10_000) canonicalCache.set(lower, c);
  }
  return c;
}

export class OriginProxy {
  readonly agent: Agent;

  constructor(readonly opts: OriginProxyOptions) {
    this.agent = this.makeAgent(PLAIN);
  }

  /** Serves one HTTP request from the edge, whichever transport brought it. */
  handle(req: TunnelRequest): void {
    const { stream, headers, responder } = req;
    const method = (headers[':method'] as string | undefined) ?? 'GET';
    const requestPath = (headers[':path'] as string | undefined) ?? '/';
    const authority =
      (headers[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
    const target = this.opts.resolve(normalizeHost(authority), requestPath, headers);
    const started = performance.now();
    if ('status' in target) {
      answerLocally(stream, responder, target.status, target.message);
      this.record(
        method,
        authority,
        requestPath,
        target.route,
        target.status,
        started,
        'agent',
        0,
        0,
        headers['cf-ray'],
        undefined,
      );
      return;
    }
    const out = originHeaders(headers, authority, this.opts.connectorId);
    const exchange = new OriginExchange(
      this,
      stream as TunnelStream,
      responder,
      method,
      target.path,
      target.origin,
      authority,
      target.route,
      started,
      headers['cf-ray'],
      out,
      target.upstream,
      // Only a request without a body may go to another endpoint: its bytes cannot have been half-sent.
      !req.hasBody,
    );
    (stream as TunnelStream)[EXCHANGE] = exchange;
    stream.on('close', onStreamClose);
    stream.on('drain', onStreamDrain);
    const dispatcher = target.options === undefined ? this.agent : this.agentFor(target.options);
    exchange.dispatcher = dispatcher;
    exchange.tls = target.options?.tls === true;
    dispatcher.dispatch(
      {
        origin: target.origin,
        path: target.path,
        method,
        headers: out,
        // undici destroys a stream body once sent; the tunnel stream is a duplex whose response side must
        // outlive that, so undici gets a readable of its own.
        body: req.hasBody ? bodyOf(stream, exchange) : null,
      },
      exchange,
    );
  }

  /** One pool per distinct origin setting (TLS, a CA bundle, an SNI, timeouts), made on first use. */
  private readonly agents = new Map<string, Agent>();

  agentFor(o: OriginOptions): Agent {
    let a = this.agents.get(o.key);
    if (a === undefined) {
      if (o.insecure)
        this.opts.log.warn(
          'origin TLS certificates are not verified for some Ingresses (origin-insecure-skip-verify)',
        );
      a = this.makeAgent(o);
      this.agents.set(o.key, a);
    }
    return a;
  }

  /** cloudflared's defaults (100 idle, 90 s idle timeout, 30 s connect) unless the options say otherwise. */
  private makeAgent(o: OriginOptions): Agent {
    const connectTimeout = o.connectTimeoutMs ?? this.opts.connectTimeoutMs ?? 30_000;
    return new Agent({
      keepAliveTimeout: this.opts.keepAliveTimeoutMs ?? 90_000,
      keepAliveMaxTimeout: this.opts.keepAliveTimeoutMs ?? 90_000,
      headersTimeout: o.headersTimeoutMs ?? this.opts.responseHeaderTimeoutMs ?? 120_000,
      // Long-lived streams (server-sent events, slow downloads) must not be cut for being quiet.
      bodyTimeout: 0,
      pipelining: 1,
      connect: o.tls ? sniConnector(o, connectTimeout) : { timeout: connectTimeout },
    });
  }

  close(): Promise<void> {
    return Promise.all([this.agent.close(), ...[...this.agents.values()].map((a) => a.close())]).then(
      () => {},
    );
  }

  /** Metrics, the access log line and the /requests ring, once per request. */
  record(
    method: string,
    host: string,
    path: string,
    route: string,
    status: number,
    started: number,
    endpoint: string,
    bytesIn: number,
    bytesOut: number,
    ray: string | string[] | undefined,
    error: string | undefined,
  ): void {
    const seconds = (performance.now() - started) / 1000;
    const cls = statusClass(status);
    const { metrics, requests, accessLog, log } = this.opts;
    if (metrics !== undefined) {
      metrics.requests.inc({ host: route, status_class: cls });
      metrics.duration.observe({ host: route, status_class: cls }, seconds);
      metrics.bytes.inc({ direction: 'in' }, bytesIn);
      metrics.bytes.inc({ direction: 'out' }, bytesOut);
    }
    if (requests === undefined && accessLog !== true) return;
    const rec = {
      time: new Date().toISOString(),
      method,
      host,
      path,
      status,
      durationMs: Math.round(seconds * 1e4) / 10,
      endpoint,
      bytesIn,
      bytesOut,
      ray: typeof ray === 'string' ? ray : '',
      ...(error === undefined ? {} : { error }),
    };
    requests?.add(rec);
    if (accessLog === true) log.info(rec, 'request');
  }
}

/**
 * The request body for undici (which destroys a stream body once sent), counting bytes as they pass.
 * Counting in _transform leaves the flow to undici: a 'data' listener here would start the stream
 * flowing before undici reads, and lose what passed in between.
 */
class CountedBody extends Transform {
  constructor(private readonly exchange: OriginExchange) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.exchange.bytesIn += chunk.length;
    cb(null, chunk);
  }
}

function bodyOf(stream: Duplex, exchange: OriginExchange): Transform {
  return stream.pipe(new CountedBody(exchange));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The agent's own answer (no route, no endpoint), sent as the origin's so the visitor sees why. */
/**
 * The headers an origin gets, as a flat name/value list: the visitor's, less hop-by-hop ones, those the
 * Connection header lists and the tunnel's own; Host from the authority; Cf-Warp-Tag-Id as cloudflared.
 */
export function originHeaders(
  headers: http2.IncomingHttpHeaders,
  authority: string,
  connectorId: string,
): string[] {
  const out: string[] = ['host', authority];
  const listed = connectionTokens(headers.connection);
  for (const name in headers) {
    if (isTunnelInternalHeader(name) || isHopByHop(name) || DROP_REQUEST.has(name)) continue;
    if (listed !== null && listed.has(name)) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (let i = 0; i < v.length; i++) out.push(name, v[i] as string);
  }
  out.push('cf-warp-tag-id', connectorId);
  return out;
}

export function answerLocally(stream: Duplex, responder: Responder, status: number, message: string): void {
  const body = `<!DOCTYPE html><title>${status}</title><h1>${status}</h1><p>${escapeHtml(message)}</p><p>tunnel-ingress</p>\n`;
  stream.on('error', () => {});
  if (stream.destroyed) return;
  const length = String(Buffer.byteLength(body));
  responder.respond(
    stream,
    status,
    [
      ['Content-Type', 'text/html; charset=utf-8'],
      ['Content-Length', length],
      ['Cache-Control', 'no-store'],
    ],
    length,
  );
  stream.end(body);
}

/**
 * TLS to origins: the system roots plus the Ingress's own CA bundle; the name sent and checked is the
 * SNI annotation's or, without one, the request's Host (undici derives it from the Host header, and
 * would let that win over a connector option, hence the wrapper).
 */
function sniConnector(o: OriginOptions, timeout: number): buildConnector.connector {
  const base = buildConnector({
    timeout,
    ca: o.caPem === null ? undefined : [...tls.rootCertificates, o.caPem],
    rejectUnauthorized: !o.insecure,
  });
  if (o.sni === null) return base;
  const sni = o.sni;
  return (opts, cb) => base({ ...opts, servername: sni }, cb);
}

/** An endpoint's identity in its Upstream: the http:// form, whichever scheme the request uses. */
function endpointKeyOf(origin: string): string {
  return origin.charCodeAt(4) === 115 /* https */ ? `http:${origin.slice(6)}` : origin;
}

function onStreamClose(this: TunnelStream): void {
  const ex = this[EXCHANGE];
  if (ex !== undefined && !ex.finished) ex.abort();
}

function onStreamDrain(this: TunnelStream): void {
  this[EXCHANGE]?.controller?.resume();
}

class OriginExchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  /** recorded and done with: the response ended, failed, or the edge canceled */
  finished = false;

  constructor(
    private readonly proxy: OriginProxy,
    private readonly stream: TunnelStream,
    private readonly responder: Responder,
    private readonly method: string,
    private readonly path: string,
    private origin: string,
    private readonly host: string,
    private readonly route: string,
    private readonly started: number,
    private readonly ray: string | string[] | undefined,
    private readonly headers: string[],
    /** the Service's endpoints, for passive health and retries (absent in static mode) */
    private readonly upstream: Upstream | undefined,
    private readonly retryable: boolean,
  ) {
    proxy.opts.metrics?.inflight.inc();
    if (upstream?.tracksLoad === true) upstream.acquire(endpointKeyOf(origin));
  }

  /** the pool this request uses (plain, or the Ingress's TLS settings) */
  dispatcher: Dispatcher | null = null;
  tls = false;

  private get endpointKey(): string {
    return endpointKeyOf(this.origin);
  }

  /** Retries so far; endpoints tried (created on the first retry only). */
  private retries = 0;
  private tried: Set<string> | null = null;

  /**
   * After a failure before any response: another endpoint, when that is safe. A connect failure sent
   * nothing; an idempotent request whose connection closed before any answer may be sent again.
   */
  private retry(err: Error): boolean {
    const up = this.upstream;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const connectFailure = CONNECT_FAILURES.has(code);
    if (connectFailure) up?.connectFailed(this.endpointKey);
    if (up === undefined || !this.retryable || this.retries >= MAX_RETRIES || this.status !== 0) return false;
    if (!connectFailure && !(CLOSED_BEFORE_ANSWER.has(code) && IDEMPOTENT.has(this.method))) return false;
    this.tried ??= new Set();
    this.tried.add(this.endpointKey);
    const ep = up.next(this.tried);
    if (ep === null) return false;
    this.retries++;
    this.proxy.opts.log.info(
      { from: this.origin, to: ep.origin, path: this.path, code, retry: this.retries },
      'origin request retried on another endpoint',
    );
    if (up.tracksLoad) {
      up.release(this.endpointKey);
      up.acquire(ep.origin);
    }
    const origin = this.tls ? ep.tlsOrigin : ep.origin;
    this.origin = origin;
    this.controller = null;
    (this.dispatcher ?? this.proxy.agent).dispatch(
      { origin, path: this.path, method: this.method, headers: this.headers, body: null },
      this,
    );
    return true;
  }

  bytesIn = 0;
  private bytesOut = 0;
  /** the origin's status; 0 until its response starts */
  private status = 0;
  /** a server-sent event stream, counted among the long-lived streams while it lasts */
  private sse = false;

  /** Ends the exchange once: metrics, the access log and /requests. */
  private finish(error: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.proxy.opts.metrics?.inflight.dec();
    if (this.upstream?.tracksLoad === true) this.upstream.release(this.endpointKey);
    if (this.sse) this.proxy.opts.metrics?.longStreams.dec({ kind: 'sse' });
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

  abort(): void {
    this.finish('the edge canceled the stream');
    this.controller?.abort(
      new TunnelError('EDGE_CANCELED', 'the edge canceled the stream', { source: 'edge' }),
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished)
      controller.abort(new TunnelError('EDGE_CANCELED', 'the edge canceled the stream', { source: 'edge' }));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: http2.IncomingHttpHeaders,
  ): void {
    // Informational responses (100 Continue, 103 Early Hints) are not relayed.
    if (statusCode < 200 && statusCode !== 101) return;
    const stream = this.stream;
    if (stream.destroyed || this.responder.headersSent(stream)) return;
    const pairs: Array<[string, string]> = [];
    const listed = connectionTokens(headers.connection);
    for (const name in headers) {
      if (isHopByHop(name) || (listed !== null && listed.has(name))) continue;
      const v = headers[name];
      if (v === undefined) continue;
      const cname = canonical(name);
      if (typeof v === 'string') pairs.push([cname, v]);
      else for (let i = 0; i < v.length; i++) pairs.push([cname, v[i] as string]);
    }
    const cl = headers['content-length'];
    this.status = statusCode;
    this.upstream?.connected(this.endpointKey);
    const ct = headers['content-type'];
    if (typeof ct === 'string' && ct.startsWith('text/event-stream')) {
      this.sse = true;
      this.proxy.opts.metrics?.longStreams.inc({ kind: 'sse' });
      this.proxy.opts.metrics?.longStreamsTotal.inc({ kind: 'sse' });
    }
    this.responder.respond(stream, statusCode, pairs, typeof cl === 'string' ? cl : undefined);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    this.bytesOut += chunk.length;
    if (!stream.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.finish(undefined);
    const stream = this.stream;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const stream = this.stream;
    // A destroyed stream means the edge went away: abort() records that.
    if (this.finished || stream.destroyed) return;
    if (this.retry(err)) return;
    const { log, metrics } = this.proxy.opts;
    const origin = this.origin;
    metrics?.originErrors.inc({ reason: (err as NodeJS.ErrnoException).code ?? err.name });
    this.finish(err.message);
    if (this.status === 0 && !this.responder.headersSent(stream)) {
      log.warn(
        {
          origin,
          method: this.method,
          path: this.path,
          err: err.message,
          code: (err as NodeJS.ErrnoException).code,
        },
        'origin request failed',
      );
      this.responder.fail(
        stream,
        'Unable to reach the origin service. The service may be down or it may not be responding to traffic from cloudflared',
      );
      return;
    }
    // The response already started: break the stream so the visitor sees a broken response, never a
    // complete-looking short one.
    log.warn({ origin, path: this.path, err: err.message }, 'origin response failed mid-body');
    this.responder.abort(stream);
  }
}
