import http2, { type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  META_CLOUDFLARED,
  META_ORIGIN,
  RESPONSE_HEADERS,
  RESPONSE_META,
  packHeaders,
} from './header-packing.js';

/**
 * How a proxied response goes back into the tunnel, the one thing that differs between transports:
 * HTTP/2 answers with native headers (the origin's packed into Cf-Cloudflared-Response-Headers), QUIC
 * with a ConnectResponse before the body. Both are stateless singletons, so the hot path allocates
 * nothing for them.
 */
export interface Responder {
  /** Starts the response: status and the origin's headers, one pair per value. */
  respond(
    stream: Duplex,
    status: number,
    pairs: ReadonlyArray<readonly [string, string]>,
    contentLength: string | undefined,
  ): void;
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
  responder: Responder;
}

export const http2Responder: Responder = {
  respond(stream, status, pairs, contentLength) {
    const h: http2.OutgoingHttpHeaders = {
      ':status': status === 101 ? 200 : status,
      [RESPONSE_HEADERS]: packHeaders(pairs),
      [RESPONSE_META]: META_ORIGIN,
    };
    if (contentLength !== undefined) h['content-length'] = contentLength;
    (stream as ServerHttp2Stream).respond(h);
  },
  fail(stream) {
    const s = stream as ServerHttp2Stream;
    if (!s.destroyed && !s.headersSent)
      s.respond({ ':status': 502, [RESPONSE_META]: META_CLOUDFLARED }, { endStream: true });
  },
  abort(stream) {
    (stream as ServerHttp2Stream).close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  },
  headersSent(stream) {
    return (stream as ServerHttp2Stream).headersSent;
  },
};
