import http2, { type ServerHttp2Stream } from 'node:http2';
import {
  META_CLOUDFLARED,
  META_ORIGIN,
  RESPONSE_HEADERS,
  RESPONSE_META,
  packHeaders,
  trailerHeaders,
} from '../header-packing.js';
import type { Responder } from '../responder.js';

const TRAILERS = Symbol('trailers');
type TrailerStream = ServerHttp2Stream & { [TRAILERS]?: http2.OutgoingHttpHeaders };

function onWantTrailers(this: TrailerStream): void {
  const t = this[TRAILERS];
  this[TRAILERS] = undefined;
  // Empty trailers end the stream with an empty DATA frame (END_STREAM), which every client takes.
  if (!this.destroyed) this.sendTrailers(t ?? {});
}

/**
 * The HTTP/2 transport's answer to a request stream: native headers with the origin's packed into
 * Cf-Cloudflared-Response-Headers, the body as DATA, trailers when the origin sent some.
 */
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
