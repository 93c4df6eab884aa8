import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { RESPONSE_BODY } from '../../tunnel/quic/trailers-framing.js';
import { readAnswerHead } from '../answer-head.js';
import type { EdgeConnection, EdgeStream } from '../connection-registry.js';

/** An origin's answer through the tunnel, head parsed, body still streaming. */
export interface Fetched {
  status: number;
  /** the origin's headers as readAnswerHead() leaves them */
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
      const head = readAnswerHead(h);
      if (head.kind !== 'answer') {
        stream.close(
          head.kind === 'malformed' ? http2.constants.NGHTTP2_PROTOCOL_ERROR : http2.constants.NGHTTP2_CANCEL,
        );
        reject(
          new TunnelFetchError(
            head.kind === 'malformed'
              ? 'the connector sent headers that do not unpack'
              : 'the connector could not reach the origin',
          ),
        );
        return;
      }
      const body = (stream as EdgeStream & { [RESPONSE_BODY]?: Readable })[RESPONSE_BODY] ?? stream;
      resolve({ status: head.status, pairs: head.pairs, body, stream });
    });
  });
}
