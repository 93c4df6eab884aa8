import { Transform, type TransformCallback } from 'node:stream';
import { decodeFrame } from '../capnp/framing.js';
import { TunnelError } from '../errors.js';
import { canonicalName, trailerHeaders, type HeaderList } from '../header-packing.js';
import { decodeConnectResponse, encodeConnectResponse, type Metadata } from '../schema/quic-metadata.js';

/**
 * Response trailers on QUIC, an extension of Cloudflare's protocol (docs/protocol.md), which has none:
 * on QUIC the response body is raw bytes ended by FIN, so nothing can follow it. gRPC puts its status
 * in trailers and cannot work without them.
 *
 * - The agent lists TRAILERS_FEATURE in ClientInfo.features at registration.
 * - An edge that knows the feature, on a connection that listed it, offers framing on a request stream
 *   with the ConnectRequest metadata entry TRAILERS_KEY = TRAILERS_V1 (Cloudflare's edge never does;
 *   cloudflared ignores metadata keys it does not know).
 * - The agent accepts by echoing that entry in its ConnectResponse. The response body is then a
 *   sequence of frames, type (1 byte) and payload length (4 bytes, big-endian) before each payload:
 *   DATA (0) carries body bytes; TRAILERS (1), at most once and last, carries a ConnectResponse
 *   message whose metadata is `HttpHeader:<Name>` per value. FIN ends the response as before.
 * - Without the offer, or without the echo, the body is raw, exactly as today.
 */
export const TRAILERS_FEATURE = 'tunnel_ingress_trailers_v1';
export const TRAILERS_KEY = 'TrailersFraming';
export const TRAILERS_V1 = 'v1';

export const FRAME_DATA = 0;
export const FRAME_TRAILERS = 1;
export const FRAME_HEADER_BYTES = 5;
/** Trailers are small (gRPC's are a status and a message); a bigger frame is an error, not an allocation. */
export const MAX_TRAILERS_BYTES = 64 * 1024;

const HEADER_PREFIX = 'HttpHeader:';

/**
 * On an edge request stream whose answer is framed, the readable carrying the response body (the
 * stream itself otherwise).
 */
export const RESPONSE_BODY = Symbol.for('tunnel-ingress.responseBody');

export function dataFrameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h[0] = FRAME_DATA;
  h.writeUInt32BE(length, 1);
  return h;
}

/** The TRAILERS frame, whole: one pair per value, names sent Go-canonical as on the response. */
export function trailersFrame(trailers: HeaderList): Buffer {
  const metadata: Metadata[] = [];
  for (let i = 0; i < trailers.length; i += 2)
    metadata.push({
      key: HEADER_PREFIX + canonicalName(trailers[i] as string),
      val: trailers[i + 1] as string,
    });
  const payload = encodeConnectResponse({ error: '', metadata });
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h[0] = FRAME_TRAILERS;
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

function invalid(message: string): TunnelError {
  return new TunnelError('TRAILERS_FRAMING_INVALID', message, { source: 'origin' });
}

/**
 * The edge's reader of a framed body: DATA payloads pass through as they arrive (never held whole),
 * the TRAILERS frame is collected and emitted as a 'trailers' event of lower-case name → value(s), the
 * same shape as an HTTP/2 stream's. Anything malformed fails this stream with a typed error.
 */
export class TrailersDeframer extends Transform {
  private header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  /** bytes of the current frame's payload still to come */
  private remaining = 0;
  private type = -1;
  private trailerChunks: Buffer[] = [];
  private sawTrailers = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let off = 0;
    try {
      while (off < chunk.length) {
        if (this.type < 0) {
          const n = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - off);
          chunk.copy(this.header, this.headerFill, off, off + n);
          this.headerFill += n;
          off += n;
          if (this.headerFill < FRAME_HEADER_BYTES) break;
          this.startFrame();
          continue;
        }
        const n = Math.min(this.remaining, chunk.length - off);
        const piece = chunk.subarray(off, off + n);
        off += n;
        this.remaining -= n;
        if (this.type === FRAME_DATA) this.push(piece);
        else this.trailerChunks.push(piece);
        if (this.remaining === 0) this.endFrame();
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.type >= 0 || this.headerFill > 0) cb(invalid('the response ended inside a frame'));
    else cb();
  }

  private startFrame(): void {
    const type = this.header[0] as number;
    const length = this.header.readUInt32BE(1);
    this.headerFill = 0;
    if (this.sawTrailers) throw invalid('a frame followed the trailers');
    if (type !== FRAME_DATA && type !== FRAME_TRAILERS) throw invalid(`unknown frame type ${type}`);
    if (type === FRAME_TRAILERS && length > MAX_TRAILERS_BYTES)
      throw invalid(`trailers of ${length} bytes exceed ${MAX_TRAILERS_BYTES}`);
    this.type = type;
    this.remaining = length;
    if (length === 0) this.endFrame();
  }

  private endFrame(): void {
    if (this.type === FRAME_TRAILERS) {
      this.sawTrailers = true;
      const payload = Buffer.concat(this.trailerChunks);
      this.trailerChunks = [];
      const res = decodeConnectResponse(
        decodeFrame(payload, { source: 'origin', maxBytes: MAX_TRAILERS_BYTES }),
      );
      const list: string[] = [];
      for (const m of res.metadata)
        if (m.key.startsWith(HEADER_PREFIX)) list.push(m.key.slice(HEADER_PREFIX.length), m.val);
      this.emit('trailers', trailerHeaders(list));
    }
    this.type = -1;
  }
}
