import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RESPONSE_HEADERS, RESPONSE_META, unpackHeaders } from '../tunnel/header-packing.js';
import { connectionTokens, isHopByHop } from '../tunnel/hop-by-hop.js';
import type { ConnectionRegistry, EdgeConnection, EdgeStream } from './connection-registry.js';
import { ERRORS, renderErrorPage, type EdgeErrorPage } from './error-pages.js';
import { listen, type HostPort } from '../common/net.js';
import { WebsocketRelay, websocketHeaders, writeErrorPage } from './websocket-relay.js';

/**
 * The visitors' side of the edge: HTTP/1.1 on a public port, routed by hostname to a tunnel, relayed
 * over one stream of one registered connection, with the headers Cloudflare's edge adds.
 */
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

function hostOnly(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return '';
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

export class PublicListener {
  readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: PublicListenerOptions) {
    this.server = http.createServer(
      {
        // Node's parser already refuses Content-Length with Transfer-Encoding, duplicate lengths and
        // obs-fold; keep it strict and keep header size bounded.
        insecureHTTPParser: false,
        maxHeaderSize: 32 * 1024,
        requestTimeout: 0,
        headersTimeout: 30_000,
        keepAliveTimeout: 65_000,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.handleUpgrade(req, socket, head),
    );
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
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

  // Ray IDs only need to be unique and opaque: a random per-process prefix and a counter, rather than
  // fresh randomness on every request.
  private readonly rayPrefix = randomBytes(4).toString('hex');
  private raySeq = randomBytes(4).readUInt32BE(0);

  private rayId(): string {
    this.raySeq = (this.raySeq + 1) >>> 0;
    return `${this.rayPrefix}${this.raySeq.toString(16).padStart(8, '0')}-${this.opts.location}`;
  }

  private sendError(res: ServerResponse, page: EdgeErrorPage, host: string, ray: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = renderErrorPage(page, host, ray);
    res.writeHead(page.status, {
      'content-type': 'text/html; charset=UTF-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'private, max-age=0, no-store, no-cache, must-revalidate',
      server: 'cloudflare',
      'cf-ray': ray,
    });
    res.end(body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const ray = this.rayId();
    const host = hostOnly(req.headers.host);
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
    const headers = this.tunnelHeaders(req, ray);
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    let stream: EdgeStream;
    try {
      stream = conn.link.request(headers, !hasBody);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, connectionId: conn.id }, 'cannot open a stream');
      req.resume();
      this.sendError(res, ERRORS.badGateway, host, ray);
      return;
    }
    new Relay(this, conn, req, res, stream, host, ray, hasBody);
  }

  /** A visitor's websocket handshake (other upgrades are refused, as HTTP/2 origins cannot take them). */
  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ray = this.rayId();
    const host = hostOnly(req.headers.host);
    socket.on('error', () => {});
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket') {
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
      stream = conn.link.request(websocketHeaders(this.tunnelHeaders(req, ray)), false);
    } catch {
      writeErrorPage(socket, ERRORS.badGateway, host, ray);
      return;
    }
    new WebsocketRelay(conn, socket, head, stream, ray, (page = ERRORS.badGateway) =>
      writeErrorPage(socket, page, host, ray),
    );
  }

  private tunnelHeaders(req: IncomingMessage, ray: string): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {
      ':method': req.method ?? 'GET',
      ':path': req.url ?? '/',
      ':authority': req.headers.host ?? '',
      ':scheme': 'http',
    };
    const listed = connectionTokens(req.headers.connection);
    const raw = req.rawHeaders;
    let xff: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      if (isHopByHop(name) || EDGE_SET.has(name) || (listed !== null && listed.has(name))) continue;
      if (name === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
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
    return out;
  }

  /** For Relay: responds with an edge error page. */
  fail(res: ServerResponse, host: string, ray: string, page: EdgeErrorPage = ERRORS.badGateway): void {
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
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly stream: EdgeStream,
    private readonly host: string,
    private readonly ray: string,
    hasBody: boolean,
  ) {
    conn.inflight++;
    stream.on('response', (h) => this.onResponse(h));
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
    const meta = h[RESPONSE_META];
    if (typeof meta === 'string' && meta.includes('"cloudflared"')) {
      this.responded = true;
      this.listener.fail(this.res, this.host, this.ray);
      this.stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    let pairs: Array<[string, string]>;
    try {
      pairs = unpackHeaders(typeof h[RESPONSE_HEADERS] === 'string' ? (h[RESPONSE_HEADERS] as string) : '');
    } catch {
      this.responded = true;
      this.listener.fail(this.res, this.host, this.ray);
      this.stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    const flat: string[] = [];
    for (const [name, value] of pairs) {
      const lower = name.toLowerCase();
      if (isHopByHop(lower) || lower === 'server' || lower === 'cf-ray') continue;
      flat.push(name, value);
    }
    flat.push('Server', 'cloudflare', 'CF-RAY', this.ray);
    this.responded = true;
    try {
      this.res.writeHead(Number(h[':status']), flat);
    } catch {
      this.listener.fail(this.res, this.host, this.ray);
      this.stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    this.res.flushHeaders();
    this.stream.pipe(this.res);
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
      this.conn.inflight--;
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
    this.req.unpipe(this.stream);
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
