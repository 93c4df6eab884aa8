import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import {
  PROXY_CONNECTION_UPGRADE,
  RESPONSE_HEADERS,
  RESPONSE_META,
  unpackHeaders,
} from '../tunnel/header-packing.js';
import { isHopByHop } from '../tunnel/hop-by-hop.js';
import type { EdgeConnection, EdgeStream } from './connection-registry.js';
import { reasonPhrase, renderErrorPage, type EdgeErrorPage } from './error-pages.js';

/**
 * A visitor's websocket, as Cloudflare's edge carries it: the edge does not perform the upgrade. It
 * opens a websocket stream (HTTP/2: the upgrade header; QUIC: ConnectionType websocket) with the
 * visitor's handshake headers, and relays the origin's answer: 101 (shown as 200 on HTTP/2) makes the
 * visitor's connection a raw pipe to the stream, anything else is an ordinary response. Either side
 * ending ends both.
 */
export function websocketHeaders(base: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return { ...base, [PROXY_CONNECTION_UPGRADE]: 'websocket' };
}

export function writeErrorPage(socket: Socket, page: EdgeErrorPage, host: string, ray: string): void {
  const body = renderErrorPage(page, host, ray);
  socket.end(
    `HTTP/1.1 ${page.status} ${reasonPhrase(page.status)}\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Server: cloudflare\r\nCF-RAY: ${ray}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class WebsocketRelay {
  private upgraded = false;
  private ended = false;

  constructor(
    private readonly conn: EdgeConnection,
    private readonly socket: Socket,
    head: Buffer,
    private readonly stream: EdgeStream,
    private readonly ray: string,
    private readonly failPage: (page?: EdgeErrorPage) => void,
    /** the registry's release(), when the relay ends */
    private readonly release: (conn: EdgeConnection) => void,
  ) {
    conn.inflight++;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.pause();
    if (head.length > 0) socket.unshift(head);
    stream.on('response', (h: IncomingHttpHeaders) => this.onResponse(h));
    // No half-close (spec: websocket pipes close both directions as soon as either ends).
    stream.on('error', () => this.end());
    stream.on('end', () => this.end());
    stream.on('close', () => this.end());
    socket.on('error', () => this.end());
    socket.on('end', () => this.end());
    socket.on('close', () => this.end());
  }

  private onResponse(h: IncomingHttpHeaders): void {
    const meta = h[RESPONSE_META];
    if (typeof meta === 'string' && meta.includes('"cloudflared"')) {
      this.failPage();
      this.end();
      return;
    }
    let pairs: Array<[string, string]>;
    try {
      pairs = unpackHeaders(typeof h[RESPONSE_HEADERS] === 'string' ? (h[RESPONSE_HEADERS] as string) : '');
    } catch {
      this.failPage();
      this.end();
      return;
    }
    const status = Number(h[':status']);
    // Over HTTP/2 cloudflared reports an upgrade as 200 (HTTP/2 has no 101), so 200 alone does not
    // tell an upgrade from an origin that refused it with an ordinary 200 page: the upgrade carries
    // the origin's `Upgrade: websocket` answer, a refusal does not.
    const switched =
      status === 101 ||
      (status === 200 &&
        this.conn.protocol === 'http2' &&
        pairs.some(([n, v]) => n.toLowerCase() === 'upgrade' && v.toLowerCase() === 'websocket'));
    const lines: string[] = [
      switched ? 'HTTP/1.1 101 Switching Protocols' : `HTTP/1.1 ${status} ${reasonPhrase(status)}`,
    ];
    for (const [name, value] of pairs) {
      const lower = name.toLowerCase();
      if (lower === 'server' || lower === 'cf-ray' || /[\r\n]/.test(value)) continue;
      if (isHopByHop(lower) && !(switched && (lower === 'upgrade' || lower === 'connection'))) continue;
      lines.push(`${name}: ${value}`);
    }
    lines.push('Server: cloudflare', `CF-RAY: ${this.ray}`);
    if (!switched) lines.push('Connection: close');
    this.socket.write(lines.join('\r\n') + '\r\n\r\n');
    if (!switched) {
      // A refused upgrade: its body, then the connection closes.
      this.stream.pipe(this.socket);
      return;
    }
    this.upgraded = true;
    this.stream.pipe(this.socket);
    this.socket.pipe(this.stream);
    this.socket.resume();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.release(this.conn);
    if (
      !this.upgraded &&
      this.socket.writable &&
      !this.socket.writableEnded &&
      this.socket.bytesWritten === 0
    ) {
      this.failPage();
    }
    this.socket.unpipe(this.stream);
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    if (this.socket.writableEnded) this.socket.destroySoon();
    else this.socket.end();
  }
}
