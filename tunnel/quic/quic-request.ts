import type { IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import { canonicalName } from '../header-packing.js';
import type { Responder, TunnelRequest } from '../responder.js';
import { ConnectionType, type ConnectRequest, type Metadata } from '../schema/quic-metadata.js';
import { connectResponsePreamble } from './preamble.js';
import type { QuicStream } from './quic-stream.js';
import { TRAILERS_KEY, TRAILERS_V1, dataFrameHeader, trailersFrame } from './trailers-framing.js';

/**
 * A QUIC request stream, agent side (spec §6): the ConnectRequest becomes HTTP/2-style headers for the
 * origin proxy, and the response goes back as a ConnectResponse (HttpStatus, HttpHeader:Name per
 * value) followed by the raw body, ended by FIN.
 */
const HEADER_PREFIX = 'HttpHeader:';
const SENT = Symbol('responseSent');
/** the response body is framed (the trailers extension was offered and accepted) */
const FRAMED = Symbol('framed');
type Marked = Duplex & { [SENT]?: boolean; [FRAMED]?: boolean };

/** The path and query of `dest`, which the edge sends as an absolute URL or a bare path. */
export function pathOf(dest: string): string {
  if (dest.startsWith('/')) return dest;
  const scheme = dest.indexOf('://');
  if (scheme < 0) return '/' + dest;
  const slash = dest.indexOf('/', scheme + 3);
  const query = dest.indexOf('?', scheme + 3);
  if (slash < 0) return query < 0 ? '/' : '/' + dest.slice(query);
  return query >= 0 && query < slash ? '/' + dest.slice(query) : dest.slice(slash);
}

export function requestFromConnect(stream: QuicStream, req: ConnectRequest): TunnelRequest {
  const headers: IncomingHttpHeaders = { ':path': pathOf(req.dest), ':scheme': 'http' };
  let trailers = false;
  for (const m of req.metadata) {
    if (m.key === 'HttpMethod') headers[':method'] = m.val;
    else if (m.key === TRAILERS_KEY) trailers = m.val === TRAILERS_V1;
    else if (m.key === 'HttpHost') headers[':authority'] = m.val;
    else if (m.key.startsWith(HEADER_PREFIX)) {
      const name = m.key.slice(HEADER_PREFIX.length).toLowerCase();
      if (name === 'cf-cloudflared-proxy-connection-upgrade' || name === 'cf-trace-id') continue;
      const prev = headers[name];
      if (prev === undefined) headers[name] = m.val;
      else if (Array.isArray(prev)) prev.push(m.val);
      else headers[name] = [prev as string, m.val];
    }
  }
  headers[':method'] ??= 'GET';
  // cloudflared forwards a body only with a non-zero Content-Length or chunked Transfer-Encoding.
  const cl = headers['content-length'];
  const te = headers['transfer-encoding'];
  const hasBody =
    req.type === ConnectionType.Websocket ||
    (typeof cl === 'string' && cl !== '0') ||
    (te !== undefined && String(te).toLowerCase().includes('chunked'));
  if (!hasBody) stream.resume(); // nothing of the stream's read side is wanted
  return {
    stream,
    headers,
    hasBody,
    kind:
      req.type === ConnectionType.Websocket ? 'websocket' : req.type === ConnectionType.Tcp ? 'tcp' : 'http',
    trailers,
    responder: quicResponder,
  };
}

export const quicResponder: Responder = {
  respond(stream, status, headers, _contentLength, trailers = false) {
    const metadata: Metadata[] = [{ key: 'HttpStatus', val: String(status) }];
    let streaming = status === 101 || trailers;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1] as string;
      metadata.push({ key: HEADER_PREFIX + canonicalName(name), val: value });
      if (!streaming && name.length === 12 && name.toLowerCase() === 'content-type')
        streaming = isStreamingType(value);
    }
    // A body that is only useful whole may keep its last byte back until the end (QuicStream).
    (stream as QuicStream).bulk = !streaming;
    // Accepting the edge's offer: the echo tells it the body that follows is framed.
    if (trailers) metadata.push({ key: TRAILERS_KEY, val: TRAILERS_V1 });
    (stream as Marked)[SENT] = true;
    (stream as Marked)[FRAMED] = trailers;
    stream.write(connectResponsePreamble({ error: '', metadata }));
    // The head goes whole: the edge can answer the visitor before the first body byte.
    (stream as QuicStream).releaseHeld();
  },
  data(stream, chunk) {
    if ((stream as Marked)[FRAMED] !== true) return stream.write(chunk);
    stream.write(dataFrameHeader(chunk.length));
    return stream.write(chunk);
  },
  end(stream, trailers) {
    if ((stream as Marked)[FRAMED] === true && trailers !== null && trailers.length > 0)
      stream.end(trailersFrame(trailers));
    else stream.end();
  },
  fail(stream, message) {
    if ((stream as Marked)[SENT] === true || stream.destroyed) return;
    (stream as Marked)[SENT] = true;
    stream.end(connectResponsePreamble({ error: message, metadata: [] }));
  },
  abort(stream) {
    (stream as QuicStream).reset(0);
  },
  headersSent(stream) {
    return (stream as Marked)[SENT] === true;
  },
};

/** Bodies read as they arrive, event by event (cloudflared flushes these per write too). */
export function isStreamingType(contentType: string): boolean {
  return (
    contentType.startsWith('text/event-stream') ||
    contentType.startsWith('application/grpc') ||
    contentType.startsWith('application/x-ndjson')
  );
}
