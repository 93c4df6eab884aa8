import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Transform } from 'node:stream';
import { EDGE_CANCELED, Exchange } from './exchange.js';
import { OriginError } from './origin-error.js';
import { H2Sessions } from './h2-sessions.js';
import type { OriginOptions } from '../routing/origin-options.js';

const OWNER = Symbol('h2Exchange');
type OriginStream = ClientHttp2Stream & { [OWNER]?: H2Exchange };

/**
 * A request to an HTTP/2 origin (h2c or TLS) over node:http2, for gRPC and backend-protocol H2C:
 * request and response stream at once (gRPC's bidirectional calls), with backpressure both ways, and
 * the origin's trailers go back through the tunnel. Listeners are module-level functions that find the
 * exchange through the origin stream.
 */
export class H2Exchange extends Exchange {
  private req: OriginStream | null = null;
  private session: ClientHttp2Session | null = null;
  private sessions: H2Sessions | null = null;
  private options: OriginOptions | null = null;
  private headers: http2.OutgoingHttpHeaders = {};
  private body: Transform | null = null;
  trailersSeen: http2.IncomingHttpHeaders | null = null;

  /** `headers`: the origin's request headers, with the pseudo-headers. */
  start(
    sessions: H2Sessions,
    options: OriginOptions,
    headers: http2.OutgoingHttpHeaders,
    body: Transform | null,
  ): void {
    this.sessions = sessions;
    this.options = options;
    this.headers = headers;
    this.body = body;
    this.send();
  }

  private send(): void {
    const authority = this.headers[':authority'] as string;
    const session = (this.sessions as H2Sessions).get(
      this.origin,
      this.options as OriginOptions,
      hostOf(authority),
    );
    this.session = session;
    let req: OriginStream;
    try {
      req = session.request(this.headers, { endStream: this.body === null });
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    H2Sessions.opened(session);
    req[OWNER] = this;
    this.req = req;
    req.on('response', onResponse);
    req.on('data', onData);
    req.on('trailers', onTrailers);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    if (this.body !== null) this.body.pipe(req);
  }

  abort(reason: string = EDGE_CANCELED): void {
    this.finish(reason);
    const req = this.req;
    if (req !== null && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
  }

  resume(): void {
    this.req?.resume();
  }

  onResponse(headers: http2.IncomingHttpHeaders): void {
    const status = Number(headers[':status']);
    if (status < 200) return;
    // Every HTTP/2 response may end with trailers: keep the way open for them.
    this.startResponse(status, headers, true);
  }

  onData(chunk: Buffer): void {
    if (!this.sendData(chunk)) this.req?.pause();
  }

  onEnd(): void {
    this.endResponse(this.trailersSeen);
  }

  onError(err: Error): void {
    if (this.finished || this.stream.destroyed) return;
    if (!this.moveToNextEndpoint(err, this.options?.tls === true)) {
      this.failed(err);
      return;
    }
    this.send();
  }

  /** The origin reset the stream, or the session went away, without an error event. */
  onClose(code: number): void {
    if (this.session !== null) H2Sessions.closed(this.session);
    if (this.finished || this.stream.destroyed) return;
    if (this.status !== 0 && this.ctx.responder.headersSent(this.stream) && code === 0) return;
    // REFUSED_STREAM: the origin says it did not process the request, so it may go elsewhere.
    this.onError(
      new OriginError(
        code === http2.constants.NGHTTP2_REFUSED_STREAM ? 'ORIGIN_CLOSED' : 'ORIGIN_STREAM_RESET',
        this.status === 0 ? 'before-response' : 'mid-body',
        `the origin closed the HTTP/2 stream (code ${code})`,
      ),
    );
  }
}

function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']'));
  const colon = authority.lastIndexOf(':');
  return colon >= 0 ? authority.slice(0, colon) : authority;
}

function onResponse(this: OriginStream, headers: http2.IncomingHttpHeaders): void {
  this[OWNER]?.onResponse(headers);
}
function onData(this: OriginStream, chunk: Buffer): void {
  this[OWNER]?.onData(chunk);
}
function onTrailers(this: OriginStream, trailers: http2.IncomingHttpHeaders): void {
  const ex = this[OWNER];
  if (ex !== undefined) ex.trailersSeen = trailers;
}
function onEnd(this: OriginStream): void {
  this[OWNER]?.onEnd();
}
function onError(this: OriginStream, err: Error): void {
  this[OWNER]?.onError(err);
}
function onClose(this: OriginStream): void {
  this[OWNER]?.onClose(this.rstCode ?? 0);
}
