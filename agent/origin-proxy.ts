import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Agent, buildConnector } from 'undici';
import { isTunnelInternalHeader } from '../tunnel/header-packing.js';
import type { Responder, TunnelRequest } from '../tunnel/responder.js';
import { connectionTokens, isHopByHop } from '../tunnel/hop-by-hop.js';
import { H2Exchange } from './h2-exchange.js';
import { H2Sessions } from './h2-sessions.js';
import { statusClass, type AgentMetrics } from './metrics.js';
import { CountedBody, type TunnelStream } from './origin-exchange.js';
import { framingProblem } from './request-framing.js';
import { normalizeRequestPath, type PathRefusal } from './request-path.js';
import type { RequestLog } from './request-log.js';
import { normalizeHost } from './routing/route-table.js';
import { UndiciExchange } from './undici-exchange.js';
import type { Upstream } from './upstreams.js';
import { PLAIN, originCas, type OriginOptions } from './routing/origin-options.js';
import { GRPC_UNIMPLEMENTED, answerGrpc, isGrpc } from './grpc-status.js';

/**
 * Proxies one tunnel stream to an origin: HTTP/1.1 (and HTTPS with ALPN) through undici's keep-alive
 * pools, HTTP/2 and gRPC through node:http2 sessions. A resolver picks the endpoint for the request's
 * host and path, or answers itself (404 with no route, 503 with no ready endpoint). Bodies stream both
 * ways with backpressure; nothing is buffered whole. The hot path allocates one exchange per request.
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

/** Request headers the tunnel uses for itself and never forwards. */
const DROP_REQUEST = new Set([
  'cf-cloudflared-proxy-connection-upgrade',
  'cf-cloudflared-proxy-src',
  'cf-trace-id',
  'host',
  // The edge answers 100-continue to the visitor itself (as Cloudflare does) and sends the body on;
  // undici refuses Expect outright.
  'expect',
  // Set by the agent from what the edge and the route say, never taken from the visitor
  // (docs/reliability.md lists what an origin may trust).
  'cf-warp-tag-id',
  'x-real-ip',
  'x-forwarded-host',
  // Nothing on the path sets these; a visitor's copy would only be a lie an origin might believe.
  'true-client-ip',
  'forwarded',
]);

/** gRPC over a tunnel stream that cannot carry trailers: refused up front, before the origin sees it. */
const NO_TRAILERS =
  'gRPC needs response trailers, which this tunnel stream cannot carry: the edge did not offer the QUIC trailers extension (tunnel_ingress_trailers_v1); run the agent with --protocol http2';

export class OriginProxy {
  readonly agent: Agent;
  readonly h2: H2Sessions;

  constructor(readonly opts: OriginProxyOptions) {
    this.agent = this.makeAgent(PLAIN);
    this.h2 = new H2Sessions({
      connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
      idleTimeoutMs: opts.keepAliveTimeoutMs ?? 90_000,
      log: opts.log,
    });
  }

  /** Serves one HTTP request from the edge, whichever transport brought it. */
  handle(req: TunnelRequest): void {
    const { stream, headers, responder } = req;
    const method = (headers[':method'] as string | undefined) ?? 'GET';
    const requestPath = (headers[':path'] as string | undefined) ?? '/';
    const authority =
      (headers[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
    const started = performance.now();
    const path = this.admit(req, method, authority, requestPath, started);
    if (path === null) return;
    const target = this.opts.resolve(normalizeHost(authority), path, headers);
    const grpc = isGrpc(headers['content-type']);
    if ('status' in target || (grpc && !req.trailers)) {
      // A visitor with no route gets the HTML page even for gRPC: its client maps 404 and 503 to
      // UNIMPLEMENTED and UNAVAILABLE.
      let status = 200;
      if ('status' in target) {
        status = target.status;
        answerLocally(stream, responder, status, target.message);
      } else {
        answerGrpc(stream, responder, GRPC_UNIMPLEMENTED, NO_TRAILERS);
      }
      this.record(
        method,
        authority,
        path,
        target.route,
        status,
        started,
        'agent',
        0,
        0,
        headers['cf-ray'],
        'status' in target ? undefined : 'gRPC without trailers',
      );
      return;
    }
    const out = originHeaders(headers, authority, this.opts.connectorId);
    const options = target.options ?? PLAIN;
    const Kind = options.h2 ? H2Exchange : UndiciExchange;
    const exchange = new Kind(
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
      target.upstream,
      // Without a body, any safe failure may go to another endpoint; with one, only a failed connect
      // that read none of it (the exchange checks).
      !req.hasBody,
      req.trailers,
      grpc,
    );
    const body = req.hasBody ? stream.pipe(new CountedBody(exchange)) : null;
    if (exchange instanceof H2Exchange) {
      this.warnIfInsecure(options);
      exchange.start(this.h2, options, h2Headers(method, target.path, options.tls, out, headers, grpc), body);
    } else {
      const dispatcher = target.options === undefined ? this.agent : this.agentFor(target.options);
      exchange.start(dispatcher, options.tls, out, body);
    }
  }

  /**
   * What every request kind passes before routing: the framing check (smuggling) and the path,
   * normalized for matching and forwarding. Returns that path, or null once the request has been
   * answered 400 with the reason.
   */
  admit(
    req: TunnelRequest,
    method: string,
    authority: string,
    requestPath: string,
    started: number,
  ): string | null {
    const framing = framingProblem(req.headers);
    const path = framing === null ? normalizeRequestPath(requestPath) : null;
    if (typeof path === 'string') return path;
    const refused = framing ?? (path as PathRefusal).reason;
    this.opts.log.warn({ host: authority, path: requestPath, reason: refused }, 'request refused');
    answerLocally(req.stream, req.responder, 400, `Bad request: ${refused}.`);
    this.record(
      method,
      authority,
      requestPath,
      'refused',
      400,
      started,
      'agent',
      0,
      0,
      req.headers['cf-ray'],
      refused,
    );
    return null;
  }

  /** One pool per distinct origin setting (TLS, a CA bundle, an SNI, timeouts), made on first use. */
  private readonly agents = new Map<string, Agent>();

  agentFor(o: OriginOptions): Agent {
    let a = this.agents.get(o.key);
    if (a === undefined) {
      this.warnIfInsecure(o);
      a = this.makeAgent(o);
      this.agents.set(o.key, a);
    }
    return a;
  }

  private readonly warned = new Set<string>();

  /** Once per setting: verification is off for some Ingresses. */
  warnIfInsecure(o: OriginOptions): void {
    if (!o.insecure || this.warned.has(o.key)) return;
    this.warned.add(o.key);
    this.opts.log.warn(
      'origin TLS certificates are not verified for some Ingresses (origin-insecure-skip-verify)',
    );
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
      // HTTPS origins may choose HTTP/2 through ALPN.
      allowH2: o.tls,
      connect: o.tls ? sniConnector(o, connectTimeout) : { timeout: connectTimeout },
    });
  }

  close(): Promise<void> {
    return Promise.all([
      this.agent.close(),
      this.h2.close(),
      ...[...this.agents.values()].map((a) => a.close()),
    ]).then(() => {});
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

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The agent's own answer (no route, no endpoint), sent as the origin's so the visitor sees why. */
/**
 * The headers an origin gets, as a flat name/value list: the visitor's, less hop-by-hop ones, those the
 * Connection header lists and the tunnel's own; Host and X-Forwarded-Host from the authority;
 * Cf-Warp-Tag-Id as cloudflared; X-Real-IP from Cf-Connecting-Ip; a visitor's True-Client-IP and
 * Forwarded dropped.
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
  out.push('cf-warp-tag-id', connectorId, 'x-forwarded-host', authority);
  // The edge's word for the visitor's address, as ingress-nginx sets X-Real-IP from the client.
  const ip = headers['cf-connecting-ip'];
  if (typeof ip === 'string' && ip !== '') out.push('x-real-ip', ip);
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
    // ALPN offers h2 and http/1.1; the connector is built here, so undici's own allowH2 does not reach it.
    allowH2: true,
    ca: originCas(o),
    rejectUnauthorized: !o.insecure,
  });
  if (o.sni === null) return base;
  const sni = o.sni;
  return (opts, cb) => base({ ...opts, servername: sni }, cb);
}

/**
 * The origin headers as HTTP/2 headers: pseudo-headers from the request, Host as :authority, and TE:
 * trailers where the visitor sent it or the call is gRPC (gRPC servers may insist on it).
 */
function h2Headers(
  method: string,
  path: string,
  tls: boolean,
  flat: string[],
  visitor: http2.IncomingHttpHeaders,
  grpc: boolean,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {
    ':method': method,
    ':path': path,
    ':scheme': tls ? 'https' : 'http',
    ':authority': flat[1] as string,
  };
  for (let i = 2; i < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev as string, value];
  }
  const te = visitor.te;
  if (grpc || (typeof te === 'string' && te.includes('trailers'))) out.te = 'trailers';
  return out;
}
