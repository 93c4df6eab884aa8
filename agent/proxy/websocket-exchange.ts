import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EDGE_CANCELED, EXCHANGE, Exchange } from './exchange.js';
import { answerLocally } from './local-answer.js';
import { handshakeHeaders } from './origin-headers.js';

const OWNER = Symbol('websocketExchange');
type Owned<T> = T & { [OWNER]?: WebsocketExchange };

/**
 * Websocket streams (spec: "Websocket on QUIC" and the HTTP/2 upgrade header): the edge forwards the
 * visitor's handshake headers without performing the upgrade; the agent dials the origin with
 * `Connection: Upgrade`, relays its 101 (HTTP/2 shows it as 200) and then copies raw frames both ways.
 * The origin negotiates subprotocol and extensions with the visitor's own offer, so both pass end to
 * end; close frames and ping/pong are just frames. Like cloudflared there is no half-close: when
 * either side ends, both do. An idle websocket stays open unless the route sets an idle timeout. Any
 * other origin status is passed through as an ordinary response.
 *
 * node:http rather than undici: a websocket owns its connection, so there is no pool to share, and
 * node:http reports both the upgrade and a refusal with its body. Listeners are module-level
 * functions that find the exchange through the origin request or socket.
 */
export class WebsocketExchange extends Exchange {
  private out: Owned<http.ClientRequest> | null = null;
  private socket: Owned<Socket> | null = null;
  private refusal: http.IncomingMessage | null = null;
  private idleMs = 0;
  private spliced = false;

  /**
   * Dials the origin. `headers`: the origin headers (originHeaders). A header node:http refuses (a
   * character outside its rules) gets 400 for this request only, and nothing is sent.
   */
  start(headers: string[], idleMs: number): void {
    headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
    if (this.ctx.headers['sec-websocket-version'] === undefined) headers.push('sec-websocket-version', '13');
    this.idleMs = idleMs;
    const url = new URL(this.origin);
    let out: Owned<http.ClientRequest>;
    try {
      out = http.request({
        host: url.hostname,
        port: url.port,
        path: this.ctx.path,
        method: 'GET',
        headers: headers as unknown as http.OutgoingHttpHeaders,
        setHost: false,
        agent: false,
      });
    } catch (err) {
      const message = `Bad request: ${(err as Error).message}.`;
      answerLocally(this.ctx, 400, message);
      this.status = 400;
      this.finish(message);
      return;
    }
    out[OWNER] = this;
    this.out = out;
    out.on('upgrade', onUpgrade);
    out.on('response', onRefused);
    out.on('error', onOutError);
    out.end();
  }

  abort(reason: string = EDGE_CANCELED): void {
    // The edge went away: a spliced pair closes through its own listeners.
    if (!this.spliced) {
      this.finish(reason);
      this.out?.destroy();
    }
  }

  resume(): void {
    this.refusal?.resume();
  }

  /** The origin switched protocols: relay its 101, then frames both ways until either side ends. */
  upgraded(res: http.IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.finished || this.stream.destroyed) {
      socket.destroy();
      return;
    }
    this.startResponseWith(101, handshakeHeaders(res.rawHeaders), undefined, false);
    if (head.length > 0) this.stream.write(head);
    socket.setNoDelay(true);
    // Idle for ever unless the route says otherwise: then silence in both directions for that long
    // closes the pair (the origin socket sees all traffic of both).
    socket.setTimeout(this.idleMs);
    if (this.idleMs > 0) socket.once('timeout', socket.destroy);
    this.countLong('websocket');
    this.spliced = true;
    const s = socket as Owned<Socket>;
    s[OWNER] = this;
    this.socket = s;
    const a = this.stream;
    a.pipe(s);
    s.pipe(a);
    a.on('end', onSpliceEnd);
    a.on('close', onSpliceEnd);
    s.on('end', onSpliceEnd);
    s.on('close', onSpliceEnd);
    s.on('error', onSpliceEnd);
  }

  /** The origin answered without upgrading: its answer goes back as an ordinary response. */
  refused(res: http.IncomingMessage): void {
    this.startResponseWith(
      res.statusCode ?? 502,
      handshakeHeaders(res.rawHeaders),
      res.headers['content-length'],
      false,
    );
    this.refusal = res;
    (res as Owned<http.IncomingMessage>)[OWNER] = this;
    res.on('data', onRefusalData);
    res.on('end', onRefusalEnd);
  }

  refusalData(chunk: Buffer, res: http.IncomingMessage): void {
    if (!this.sendData(chunk)) res.pause();
  }

  refusalEnd(): void {
    this.endResponse(null);
  }

  outFailed(err: Error): void {
    if (this.spliced) return;
    this.failed(err);
  }

  /** Either side ended or failed: both close, once. */
  closePair(): void {
    const a = this.stream as Duplex;
    const b = this.socket;
    if (b === null || this.finished) return;
    a.unpipe(b);
    b.unpipe(a);
    b.destroy();
    if (!a.destroyed) a.end();
    // The FIN goes first; the edge then closes its side. A stream it leaves open is cut after 5 s.
    setTimeout(destroyIfOpen, 5000, a).unref();
    // The origin socket saw every byte both ways (the handshake too): what it read came from the
    // origin, what it wrote came from the visitor.
    this.ctx.bytesIn = b.bytesWritten;
    this.ctx.bytesOut = b.bytesRead;
    this.finish(undefined);
  }
}

function destroyIfOpen(a: Duplex): void {
  if (!a.destroyed) a.destroy();
}
function onUpgrade(this: Owned<http.ClientRequest>, res: http.IncomingMessage, socket: Socket, head: Buffer) {
  this[OWNER]?.upgraded(res, socket, head);
}
function onRefused(this: Owned<http.ClientRequest>, res: http.IncomingMessage): void {
  this[OWNER]?.refused(res);
}
function onOutError(this: Owned<http.ClientRequest>, err: Error): void {
  this[OWNER]?.outFailed(err);
}
function onRefusalData(this: Owned<http.IncomingMessage>, chunk: Buffer): void {
  this[OWNER]?.refusalData(chunk, this);
}
function onRefusalEnd(this: Owned<http.IncomingMessage>): void {
  this[OWNER]?.refusalEnd();
}
function onSpliceEnd(this: Owned<Duplex> & { [EXCHANGE]?: Exchange }): void {
  // Attached only by a websocket exchange, to its tunnel stream and its origin socket.
  ((this[OWNER] ?? this[EXCHANGE]) as WebsocketExchange | undefined)?.closePair();
}
