import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { RESPONSE_HEADERS, RESPONSE_META, unpackHeaders } from '../../tunnel/header-packing.js';
import { isHopByHop } from '../../tunnel/hop-by-hop.js';
import { RESPONSE_BODY } from '../../tunnel/quic/trailers-framing.js';
import type { EdgeConnection, EdgeStream } from '../connection-registry.js';

/** An origin's answer through the tunnel, head parsed, body still streaming. */
export interface Fetched {
  status: number;
  /** the origin's headers without hop-by-hop ones, Server and CF-RAY (the edge sets its own) */
  pairs: Array<[string, string]>;
  body: Readable;
  stream: EdgeStream;
}

/** Why a fetch through the tunnel failed before any answer: the visitor gets a 502 page. */
export class TunnelFetchError extends Error {}

/** The header values under a lower-case name, from name/value pairs. */
export function valuesOf(pairs: ReadonlyArray<readonly [string, string]>) {
  return (name: string): string[] => {
    const out: string[] = [];
    for (const [k, v] of pairs) if (k.length === name.length && k.toLowerCase() === name) out.push(v);
    return out;
  };
}

/**
 * A request through one tunnel connection whose answer the edge reads before a visitor sees any of
 * it (the cache decides on the head, and stores the body): the stream is counted on the connection
 * while it lasts, and released when it closes, as the visitor relay does.
 */
export function tunnelFetch(
  conn: EdgeConnection,
  headers: OutgoingHttpHeaders,
  release: (conn: EdgeConnection) => void,
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    let stream: EdgeStream;
    try {
      stream = conn.link.request(headers, true);
    } catch (err) {
      reject(new TunnelFetchError((err as Error).message));
      return;
    }
    conn.inflight++;
    let answered = false;
    stream.once('close', () => {
      release(conn);
      if (!answered) reject(new TunnelFetchError('the tunnel stream closed before an answer'));
    });
    stream.on('error', (err: Error) => {
      if (!answered) reject(new TunnelFetchError(err.message));
    });
    stream.once('response', (h: IncomingHttpHeaders) => {
      answered = true;
      const meta = h[RESPONSE_META];
      if (typeof meta === 'string' && meta.includes('"cloudflared"')) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new TunnelFetchError('the connector could not reach the origin'));
        return;
      }
      let pairs: Array<[string, string]>;
      try {
        pairs = unpackHeaders(typeof h[RESPONSE_HEADERS] === 'string' ? (h[RESPONSE_HEADERS] as string) : '');
      } catch {
        stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        reject(new TunnelFetchError('the connector sent headers that do not unpack'));
        return;
      }
      const kept = pairs.filter(([k]) => {
        const lower = k.toLowerCase();
        return !isHopByHop(lower) && lower !== 'server' && lower !== 'cf-ray';
      });
      const body = (stream as EdgeStream & { [RESPONSE_BODY]?: Readable })[RESPONSE_BODY] ?? stream;
      resolve({ status: Number(h[':status']), pairs: kept, body, stream });
    });
  });
}
