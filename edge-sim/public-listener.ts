import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { RESPONSE_BODY } from '../tunnel/quic/trailers-framing.js';
import { trailerHeaders } from '../tunnel/header-packing.js';
import type { Logger } from 'pino';
import { connectionTokens, isHopByHop } from '../tunnel/hop-by-hop.js';
import type { ConnectionRegistry, EdgeConnection, EdgeStream } from './connection-registry.js';
import { ERRORS, reasonPhrase, renderErrorPage, type EdgeErrorPage } from './error-pages.js';
import { listen, type HostPort } from '../common/net.js';
import { WebsocketRelay, websocketHeaders, writeErrorPage } from './websocket-relay.js';
import { EDGE_ONLY, readAnswerHead } from './answer-head.js';
import type { CacheFront } from './cache/cache-front.js';
import { eligible } from './cache/cache-policy.js';

export interface RouteResolver {
  /** The tunnel id serving `host` (lower-case, no port), or undefined. */
  tunnelFor(host: string): string | undefined;
}

export interface PublicListenerOptions {
  host: string;
  port: number;
  location: string;
  routes: RouteResolver;
  registry: ConnectionRegistry;
  log: Logger;
  /** the edge cache (absent with --no-cache: every answer passes as it comes, with no CF-Cache-Status) */
  cache?: { front: CacheFront; everything(host: string): boolean };
}

/** Visitor request headers the edge replaces rather than forwards. */
const EDGE_SET = new Set([
  'host',
  'cf-connecting-ip',
  'cf-ray',
  'cf-visitor',
  'x-forwarded-proto',
  'cf-ipcountry',
  // answered here: Node's server sends the visitor 100 Continue before the request is relayed
  'expect',
]);

/** The visitor's Host: HTTP/2's :authority, else the Host header. */
function authorityOf(req: VisitorRequest): string {
  const a = req.headers[':authority'];
  return typeof a === 'string' && a !== '' ? a : (req.headers.host ?? '');
}

/** Where a request goes: the path in origin form and the authority it was sent to. */
interface Target {
  path: string;
  authority: string;
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)/i;

/**
 * The request target in origin form (RFC 9112 §3.2). An absolute-form target names its own authority,
 * which wins over Host (§3.2.2); the tunnel carries only its path. Anything else (`*`, authority form,
 * a bare word) is not a request for a tunnelled host: null, answered 400.
 */
function targetOf(req: VisitorRequest): Target | null {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* '/' */) return { path: url, authority: authorityOf(req) };
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null || m[1] === '') return null;
  const rest = m[2] as string;
  return {
    path: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* '?' */ ? '/' + rest : rest,
    authority: m[1] as string,
  };
}

/**
 * Headers only the tunnel may set (cloudflared's stream type, its response headers, Cloudflare's
 * internal ones): a visitor's are dropped, or a request could open a control stream or pose as a
 * websocket or TCP stream inside the tunnel.
 */
function isTunnelOnly(lowerName: string): boolean {
  return lowerName.startsWith('cf-cloudflared-') || lowerName.startsWith('cf-int-');
}

/** Streams one visitor connection may have open at once (nginx's http2_max_concurrent_streams). */
export const VISITOR_MAX_STREAMS = 128;
/**
 * Requests one visitor connection may make in all (nginx's keepalive_requests): then HTTP/1.1 closes
 * after the answer and HTTP/2 says GOAWAY, letting the streams in flight finish. It bounds how many
 * streams one connection can churn through the tunnel, opening and abandoning them.
 */
export const VISITOR_MAX_REQUESTS = 1000;

function hostOnly(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return '';
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

type VisitorRequest = IncomingMessage | Http2ServerRequest;

/**
 * How many Host header fields an HTTP/1.1 request carries: more than one is answered 400 (RFC 9112
 * §3.2), since two proxies could each route by a different one.
 */
function hostCount(req: VisitorRequest): number {
  if ('stream' in req) return 0;
  let n = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if ((raw[i] as string).length === 4 && (raw[i] as string).toLowerCase() === 'host') n++;
  return n;
}
type VisitorResponse = ServerResponse | Http2ServerResponse;

/**
 * How long a visitor has to send a whole request head (nginx's client_header_timeout is 60 s; Node's
 * default 60 s too). It also bounds the first bytes that tell HTTP/1.1 from h2c, so that a connection
 * that sends a few bytes, or none, and stops (slowloris) is closed.
 */
export const HEADERS_TIMEOUT_MS = 30_000;
/** How long an idle HTTP/1.1 visitor connection stays open between requests. */
const KEEPALIVE_TIMEOUT_MS = 65_000;

/** One timer per visitor connection waiting for a request head; it destroys the connection when it fires. */
class HeaderTimers {
  private readonly timers = new WeakMap<Socket, NodeJS.Timeout>();

  constructor(private readonly ms: number) {}

  arm(s: Socket, ms = this.ms): void {
    if (s.destroyed) return;
    this.disarm(s);
    const t = setTimeout(() => s.destroy(), ms);
    t.unref();
    this.timers.set(s, t);
  }

  disarm(s: Socket): void {
    const t = this.timers.get(s);
    if (t !== undefined) {
      clearTimeout(t);
      this.timers.delete(s);
    }
  }
}

/** The HTTP/2 connection preface: a connection that starts with it speaks h2c. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * The visitors' side of the edge: HTTP/1.1 and HTTP/2 with prior knowledge (h2c, as gRPC clients
 * speak it) on one public port, told apart by the connection's first bytes; routed by hostname to a
 * tunnel, relayed over one stream of one registered connection, with the headers Cloudflare's edge
 * adds, and the origin's trailers passed on.
 */
export class PublicListener {
  readonly server: net.Server;
  private readonly http1: http.Server;
  private readonly h2c: http2.Http2Server;
  private readonly sockets = new Set<Socket>();
  /**
   * The headers timeout, kept here: Node's own (headersTimeout) is enforced by a timer the server
   * starts only when it listens itself, and this server is handed its connections by sniff().
   */
  private readonly headerTimers = new HeaderTimers(HEADERS_TIMEOUT_MS);

  constructor(private readonly opts: PublicListenerOptions) {
    this.server = net.createServer((s) => this.sniff(s));
    this.h2c = http2.createServer(
      {
        maxHeaderListPairs: 256,
        maxSendHeaderBlockLength: 64 * 1024,
        settings: { maxConcurrentStreams: VISITOR_MAX_STREAMS },
      },
      (req, res) => this.handle(req, res),
    );
    this.h2c.on('sessionError', () => {});
    this.h2c.on('session', (session) => {
      let streams = 0;
      session.on('stream', () => {
        if (++streams === VISITOR_MAX_REQUESTS) session.close();
      });
    });
    this.http1 = http.createServer(
      {
        // Node's parser already refuses Content-Length with Transfer-Encoding, duplicate lengths and
        // obs-fold; keep it strict and keep header size bounded.
        insecureHTTPParser: false,
        maxHeaderSize: 32 * 1024,
        requestTimeout: 0,
        headersTimeout: HEADERS_TIMEOUT_MS,
        keepAliveTimeout: KEEPALIVE_TIMEOUT_MS,
      },
      (req, res) => {
        // A whole head arrived. The next must come, whole, within the keep-alive time of this answer's
        // end (an idle connection closes then anyway).
        this.headerTimers.disarm(req.socket);
        res.once('finish', () => this.headerTimers.arm(req.socket, KEEPALIVE_TIMEOUT_MS));
        this.handle(req, res);
      },
    );
    this.http1.maxRequestsPerSocket = VISITOR_MAX_REQUESTS;
    this.http1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.headerTimers.disarm(socket);
      this.handleUpgrade(req, socket, head);
    });
    this.http1.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return;
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const reason = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  listen(): Promise<HostPort> {
    return listen(this.server, this.opts);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Reads just enough of a new connection to tell h2c's preface from HTTP/1.1, then hands it over. */
  private sniff(s: Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    let head: Buffer = Buffer.alloc(0);
    this.headerTimers.arm(s);
    s.on('close', () => this.headerTimers.disarm(s));
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const h2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2 && n < H2_PREFACE.length) return; // so far it could be either: wait for more
      s.off('data', onData);
      s.pause();
      s.unshift(head);
      // HTTP/2 reads what was put back itself; resuming would spill it to no listener.
      if (h2) {
        this.headerTimers.disarm(s);
        this.h2c.emit('connection', s);
      } else {
        this.http1.emit('connection', s);
        s.resume();
      }
    };
    s.on('data', onData);
  }

  // Ray IDs only need to be unique and opaque: a random per-process prefix and a counter, rather than
  // fresh randomness on every request.
  private readonly rayPrefix = randomBytes(4).toString('hex');
  private raySeq = randomBytes(4).readUInt32BE(0);

  private rayId(): string {
    this.raySeq = (this.raySeq + 1) >>> 0;
    return `${this.rayPrefix}${this.raySeq.toString(16).padStart(8, '0')}-${this.opts.location}`;
  }

  private sendError(res: VisitorResponse, page: EdgeErrorPage, host: string, ray: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = renderErrorPage(page, host, ray);
    const headers = {
      'content-type': 'text/html; charset=UTF-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'private, max-age=0, no-store, no-cache, must-revalidate',
      server: 'cloudflare',
      'cf-ray': ray,
    };
    // HTTP/2 has no reason phrase (and Node warns when given one there).
    if ('stream' in res) res.writeHead(page.status, headers);
    else res.writeHead(page.status, reasonPhrase(page.status), headers);
    (res as ServerResponse).end(body);
  }

  private handle(req: VisitorRequest, res: VisitorResponse): void {
    const ray = this.rayId();
    const h2 = 'stream' in req;
    const target = hostCount(req) > 1 ? null : targetOf(req);
    if (target === null) {
      req.resume();
      this.sendError(res, ERRORS.badRequest, hostOnly(authorityOf(req)), ray);
      return;
    }
    const host = hostOnly(target.authority);
    const tunnelId = host === '' ? undefined : this.opts.routes.tunnelFor(host);
    if (tunnelId === undefined) {
      req.resume();
      this.sendError(res, ERRORS.unknownHost, host, ray);
      return;
    }
    const conn = this.opts.registry.pick(tunnelId);
    if (conn === null) {
      req.resume();
      this.sendError(res, ERRORS.tunnelUnavailable, host, ray);
      return;
    }
    const headers = this.tunnelHeaders(req, ray, target);
    const cache = this.opts.cache;
    if (cache !== undefined && eligible(req.method ?? 'GET', target.path, cache.everything(host))) {
      req.resume();
      const fail = () => this.sendError(res, ERRORS.badGateway, host, ray);
      cache.front
        .serve({
          method: req.method ?? 'GET',
          headers: req.headers,
          res: res as ServerResponse,
          host,
          path: target.path,
          ray,
          tunnelHeaders: headers,
          pick: () => this.opts.registry.pick(tunnelId),
          fail,
        })
        .catch((err: unknown) => {
          this.opts.log.warn({ err: (err as Error).message, host }, 'cache answer failed');
          if (!res.headersSent) fail();
          else res.destroy();
        });
      return;
    }
    const hasBody = h2
      ? !req.stream.endAfterHeaders
      : req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    let stream: EdgeStream;
    try {
      stream = conn.link.request(headers, !hasBody);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, connectionId: conn.id }, 'cannot open a stream');
      req.resume();
      this.sendError(res, ERRORS.badGateway, host, ray);
      return;
    }
    new Relay(this, conn, req, res, stream, host, ray, hasBody, cache === undefined ? null : 'DYNAMIC');
  }

  /** A visitor's websocket handshake (other upgrades are refused, as HTTP/2 origins cannot take them). */
  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ray = this.rayId();
    socket.on('error', () => {});
    const target = hostCount(req) > 1 ? null : targetOf(req);
    const host = hostOnly(target?.authority ?? req.headers.host);
    if (target === null || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      writeErrorPage(socket, ERRORS.badRequest, host, ray);
      return;
    }
    const tunnelId = host === '' ? undefined : this.opts.routes.tunnelFor(host);
    if (tunnelId === undefined) {
      writeErrorPage(socket, ERRORS.unknownHost, host, ray);
      return;
    }
    const conn = this.opts.registry.pick(tunnelId);
    if (conn === null) {
      writeErrorPage(socket, ERRORS.tunnelUnavailable, host, ray);
      return;
    }
    let stream: EdgeStream;
    try {
      stream = conn.link.request(websocketHeaders(this.tunnelHeaders(req, ray, target)), false);
    } catch {
      writeErrorPage(socket, ERRORS.badGateway, host, ray);
      return;
    }
    new WebsocketRelay(
      conn,
      socket,
      head,
      stream,
      ray,
      (page = ERRORS.badGateway) => writeErrorPage(socket, page, host, ray),
      this.release,
    );
  }

  private tunnelHeaders(req: VisitorRequest, ray: string, target: Target): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {
      ':method': req.method ?? 'GET',
      ':path': target.path,
      ':authority': target.authority,
      ':scheme': 'http',
    };
    const listed = connectionTokens(req.headers.connection);
    const raw = req.rawHeaders;
    let xff: string | undefined;
    let cdnLoop: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      if (
        name.charCodeAt(0) === 58 /* ':' pseudo-headers of HTTP/2 */ ||
        isHopByHop(name) ||
        EDGE_SET.has(name) ||
        isTunnelOnly(name) ||
        (listed !== null && listed.has(name))
      )
        continue;
      if (name === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (name === 'cdn-loop') {
        cdnLoop = cdnLoop === undefined ? value : `${cdnLoop}, ${value}`;
        continue;
      }
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [prev as string, value];
    }
    const te = req.headers.te;
    if (typeof te === 'string' && te.toLowerCase().includes('trailers')) out.te = 'trailers';
    const ip = req.socket.remoteAddress ?? '';
    out['cf-connecting-ip'] = ip;
    out['x-forwarded-for'] = xff === undefined ? ip : `${xff}, ${ip}`;
    out['x-forwarded-proto'] = 'http';
    out['cf-visitor'] = '{"scheme":"http"}';
    out['cf-ray'] = ray;
    out['cf-ipcountry'] = 'XX';
    // RFC 8586: each CDN a request passes through appends its name; Cloudflare's is "cloudflare".
    out['cdn-loop'] = cdnLoop === undefined ? 'cloudflare' : `${cdnLoop}, cloudflare`;
    return out;
  }

  /** For the relays: a stream on `conn` finished (a drained connection closes after its last). */
  readonly release = (conn: EdgeConnection): void => this.opts.registry.release(conn);

  /** For Relay: responds with an edge error page. */
  fail(res: VisitorResponse, host: string, ray: string, page: EdgeErrorPage = ERRORS.badGateway): void {
    this.sendError(res, page, host, ray);
  }
}

/** One visitor request in flight over one tunnel stream. */
class Relay {
  private responded = false;
  private done = false;

  constructor(
    private readonly listener: PublicListener,
    private readonly conn: EdgeConnection,
    private readonly req: VisitorRequest,
    private readonly res: VisitorResponse,
    private readonly stream: EdgeStream,
    private readonly host: string,
    private readonly ray: string,
    hasBody: boolean,
    /** CF-Cache-Status for an answer the cache does not hold (DYNAMIC), null with no cache */
    private readonly cacheStatus: string | null,
  ) {
    conn.inflight++;
    stream.on('response', (h) => this.onResponse(h));
    stream.on('trailers', (t: IncomingHttpHeaders) => this.onTrailers(t));
    stream.on('error', () => this.onStreamFailed());
    stream.on('close', () => this.onStreamClose());
    res.on('close', () => this.onVisitorClose());
    if (hasBody) {
      req.pipe(stream);
    } else {
      req.resume();
    }
  }

  private onResponse(h: IncomingHttpHeaders): void {
    const head = readAnswerHead(h);
    if (head.kind !== 'answer') {
      this.responded = true;
      this.listener.fail(this.res, this.host, this.ray);
      this.stream.close(
        head.kind === 'malformed' ? http2.constants.NGHTTP2_PROTOCOL_ERROR : http2.constants.NGHTTP2_CANCEL,
      );
      return;
    }
    const kept: Array<[string, string]> = [];
    let grpcStatus = false;
    for (const pair of head.pairs) {
      const lower = pair[0].toLowerCase();
      if (EDGE_ONLY.has(lower)) continue;
      if (lower === 'grpc-status') grpcStatus = true;
      kept.push(pair);
    }
    if (this.cacheStatus !== null) kept.push(['CF-Cache-Status', this.cacheStatus]);
    kept.push(['Server', 'cloudflare'], ['CF-RAY', this.ray]);
    this.responded = true;
    if (grpcStatus && 'stream' in this.req) {
      this.trailersOnly(head.status, kept);
      return;
    }
    const flat = kept.flat();
    try {
      // Both accept a flat name/value list (Node's typings know only the object form).
      (this.res as ServerResponse).writeHead(head.status, flat);
    } catch {
      this.listener.fail(this.res, this.host, this.ray);
      this.stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    (this.res as ServerResponse).flushHeaders();
    // A QUIC answer with trailers comes framed: its body is the deframer's output.
    const body = (this.stream as EdgeStream & { [RESPONSE_BODY]?: Readable })[RESPONSE_BODY] ?? this.stream;
    body.pipe(this.res as ServerResponse);
  }

  /**
   * gRPC's trailers-only response (an error before any message): one HEADERS frame that ends the
   * stream, which is how gRPC clients recognise it (the compatibility API would send an empty DATA
   * frame to end it, and the status would be lost).
   */
  private trailersOnly(status: number, pairs: Array<[string, string]>): void {
    const headers: OutgoingHttpHeaders = { ':status': status, ...trailerHeaders(pairs.flat()) };
    this.stream.resume();
    try {
      (this.res as Http2ServerResponse).stream.respond(headers, { endStream: true });
    } catch {
      this.res.destroy();
    }
  }

  /** The origin's trailers, for the visitor (HTTP/2, or HTTP/1.1 chunked: Node drops them otherwise). */
  private onTrailers(t: IncomingHttpHeaders): void {
    const out: Record<string, string | string[]> = {};
    for (const name in t) {
      const v = t[name];
      if (v === undefined || name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
      out[name] = v;
    }
    if (!this.res.writableEnded) this.res.addTrailers(out);
  }

  private onStreamFailed(): void {
    if (!this.responded) {
      this.responded = true;
      this.listener.fail(this.res, this.host, this.ray);
    } else if (!this.res.writableEnded) {
      // The response was cut off after it started: the visitor must see a broken response, not a short one.
      this.res.destroy();
    }
  }

  private onStreamClose(): void {
    if (!this.done) {
      this.done = true;
      this.listener.release(this.conn);
    }
    if (!this.responded) {
      this.responded = true;
      this.listener.fail(this.res, this.host, this.ray);
    } else if (
      this.stream.rstCode !== undefined &&
      this.stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR &&
      !this.res.writableEnded
    ) {
      this.res.destroy();
    }
  }

  private onVisitorClose(): void {
    // 'close' follows a finished response too; only a visitor who left early cancels the stream. A
    // cancel per request would also trip the peer's rapid-reset protection.
    if (this.res.writableFinished) return;
    (this.req as IncomingMessage).unpipe(this.stream);
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
