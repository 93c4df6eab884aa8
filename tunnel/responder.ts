import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { HeaderList } from './header-packing.js';

/**
 * How a proxied response goes back into the tunnel, the one thing that differs between transports:
 * HTTP/2 answers with native headers (the origin's packed into Cf-Cloudflared-Response-Headers), QUIC
 * with a ConnectResponse before the body. Both are stateless singletons, so the hot path allocates
 * nothing for them.
 */
export interface Responder {
  /**
   * Starts the response: status and the origin's headers (Go-canonical names, one pair per value).
   * `trailers`: the origin may send trailers, so keep the way open for them (only where the request's
   * `trailers` allows).
   */
  respond(
    stream: Duplex,
    status: number,
    headers: HeaderList,
    contentLength: string | undefined,
    trailers?: boolean,
  ): void;
  /** Writes body bytes; false when the stream wants the writer to wait for 'drain'. */
  data(stream: Duplex, chunk: Buffer): boolean;
  /** Ends the response, with the origin's trailers when it sent some (and respond() allowed them). */
  end(stream: Duplex, trailers: HeaderList | null): void;
  /** Fails a request that has no response yet, as cloudflared does (502 / a ConnectResponse error). */
  fail(stream: Duplex, message: string): void;
  /** Breaks a response that already started: the visitor must see it cut off, never complete. */
  abort(stream: Duplex): void;
  headersSent(stream: Duplex): boolean;
}

/** A request as the tunnel delivers it to the agent, whatever the transport. */
export interface TunnelRequest {
  stream: Duplex;
  /** request headers, HTTP/2 style: ':method', ':path', ':authority' and lower-case names */
  headers: http2.IncomingHttpHeaders;
  hasBody: boolean;
  kind: 'http' | 'websocket' | 'tcp';
  /**
   * The response can carry trailers: always on HTTP/2 (native), on QUIC only where the edge offered
   * the trailers extension (tunnel/quic/trailers-framing.ts).
   */
  trailers: boolean;
  responder: Responder;
}
