import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { TunnelError } from '../../tunnel/errors.js';
import { EDGE_CANCELED, Exchange } from './exchange.js';

/**
 * A request to an origin through undici's keep-alive pools: HTTP/1.1, or HTTP/2 where TLS's ALPN
 * chose it. undici calls the handler methods; the exchange relays them to the tunnel.
 */
export class UndiciExchange extends Exchange implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  /** the pool this request uses (plain, or the Ingress's settings) */
  dispatcher: Dispatcher | null = null;
  /** https:// endpoints (backend-protocol HTTPS) */
  tls = false;
  private headers: string[] = [];
  private body: Readable | null = null;

  start(dispatcher: Dispatcher, tls: boolean, headers: string[], body: Readable | null): void {
    this.dispatcher = dispatcher;
    this.tls = tls;
    this.headers = headers;
    this.body = body;
    dispatcher.dispatch(
      { origin: this.origin, path: this.ctx.path, method: this.ctx.method, headers, body },
      this,
    );
  }

  abort(reason: string = EDGE_CANCELED): void {
    this.finish(reason);
    this.controller?.abort(
      new TunnelError('EDGE_CANCELED', 'the edge canceled the stream', { source: 'edge' }),
    );
  }

  resume(): void {
    this.controller?.resume();
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
    // HTTP/1.1 announces trailers with a Trailer header; only then is the way kept open for them.
    this.startResponse(statusCode, headers, headers.trailer !== undefined);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.sendData(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: http2.IncomingHttpHeaders): void {
    this.endResponse(trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    // A destroyed stream means the edge went away: abort() records that.
    if (this.finished || this.stream.destroyed) return;
    if (!this.moveToNextEndpoint(err, this.tls, this.body)) {
      this.failed(err);
      return;
    }
    this.controller = null;
    // The body, if any, is still whole: undici reads it only once connected.
    (this.dispatcher as Dispatcher).dispatch(
      {
        origin: this.origin,
        path: this.ctx.path,
        method: this.ctx.method,
        headers: this.headers,
        body: this.body,
      },
      this,
    );
  }
}
