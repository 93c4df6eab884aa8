import http2, { type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  META_CLOUDFLARED,
  META_ORIGIN,
  RESPONSE_HEADERS,
  RESPONSE_META,
  packHeaders,
  type HeaderList,
} from './header-packing.js';

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

const TRAILERS = Symbol('trailers');
type TrailerStream = ServerHttp2Stream & { [TRAILERS]?: http2.OutgoingHttpHeaders };

function onWantTrailers(this: TrailerStream): void {
  const t = this[TRAILERS];
  this[TRAILERS] = undefined;
  // Empty trailers end the stream with an empty DATA frame (END_STREAM), which every client takes.
  if (!this.destroyed) this.sendTrailers(t ?? {});
}

/** A header list (trailers, or a trailers-only head) as native HTTP/2 headers: lower-case names, repeated ones as arrays. */
export function trailerHeaders(list: HeaderList): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const lower = (list[i] as string).toLowerCase();
    const value = list[i + 1] as string;
    if (lower.startsWith(':')) continue;
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [prev, value];
  }
  return out;
}

export const http2Responder: Responder = {
  respond(stream, status, headers, contentLength, trailers = false) {
    const h: http2.OutgoingHttpHeaders = {
      ':status': status === 101 ? 200 : status,
      [RESPONSE_HEADERS]: packHeaders(headers),
      [RESPONSE_META]: META_ORIGIN,
    };
    if (contentLength !== undefined) h['content-length'] = contentLength;
    if (trailers) {
      (stream as TrailerStream).respond(h, { waitForTrailers: true });
      stream.once('wantTrailers', onWantTrailers);
    } else {
      (stream as ServerHttp2Stream).respond(h);
    }
  },
  data(stream, chunk) {
    return stream.write(chunk);
  },
  end(stream, trailers) {
    if (trailers !== null) (stream as TrailerStream)[TRAILERS] = trailerHeaders(trailers);
    stream.end();
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
