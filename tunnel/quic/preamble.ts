import type { Duplex } from 'node:stream';
import { FrameDecoder } from '../capnp/framing.js';
import { MessageReader } from '../capnp/reader.js';
import { TunnelError, type ErrorSource, type TunnelErrorCode } from '../errors.js';
import {
  decodeConnectRequest,
  decodeConnectResponse,
  encodeConnectRequest,
  encodeConnectResponse,
  type ConnectRequest,
  type ConnectResponse,
} from '../schema/quic-metadata.js';

/**
 * What opens a QUIC stream (spec §4): a 6-byte signature, for data streams the version "01", then one
 * framed Cap'n Proto message. Written in one piece (cloudflared reads the version with a single read);
 * read incrementally, with the bytes after the message put back on the stream for the body.
 */
export const DATA_SIGNATURE = Buffer.from([0x0a, 0x36, 0xcd, 0x12, 0xa1, 0x3e]);
export const RPC_SIGNATURE = Buffer.from([0x52, 0xbb, 0x82, 0x5c, 0xdb, 0x65]);
export const DATA_VERSION = Buffer.from('01', 'ascii');
const MAX_PREAMBLE_MESSAGE = 1024 * 1024;

export function connectRequestPreamble(req: ConnectRequest): Buffer {
  return Buffer.concat([DATA_SIGNATURE, DATA_VERSION, encodeConnectRequest(req)]);
}

export function connectResponsePreamble(res: ConnectResponse): Buffer {
  return Buffer.concat([DATA_SIGNATURE, DATA_VERSION, encodeConnectResponse(res)]);
}

export type Preamble = { kind: 'data'; message: MessageReader } | { kind: 'rpc' };

/**
 * Reads a stream's preamble. Resolves with the data message or the RPC marker; the stream is paused
 * with every later byte still readable. Rejects (typed) on an unknown signature or a malformed message.
 */
export function readPreamble(stream: Duplex, source: ErrorSource, timeoutMs = 10_000): Promise<Preamble> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    let decoder: FrameDecoder | null = null;
    let versionSeen = false;
    const done = (err: Error | null, value?: Preamble, rest?: Buffer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      if (rest !== undefined && rest.length > 0) stream.unshift(rest);
      if (err !== null) reject(err);
      else resolve(value as Preamble);
    };
    const fail = (code: TunnelErrorCode, message: string) => done(new TunnelError(code, message, { source }));
    const onData = (data: Buffer) => {
      let chunk: Buffer = data;
      try {
        if (decoder === null) {
          head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
          if (head.length < 6) return;
          const sig = head.subarray(0, 6);
          if (sig.equals(RPC_SIGNATURE)) {
            done(null, { kind: 'rpc' }, head.subarray(6));
            return;
          }
          if (!sig.equals(DATA_SIGNATURE)) {
            fail('QUIC_BAD_SIGNATURE', `unknown stream signature ${sig.toString('hex')}`);
            return;
          }
          decoder = new FrameDecoder({ maxBytes: MAX_PREAMBLE_MESSAGE, source });
          chunk = head.subarray(6);
          head = Buffer.alloc(0);
        }
        if (!versionSeen) {
          head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
          if (head.length < 2) return;
          versionSeen = true; // "01" is sent and, like cloudflared, not checked
          chunk = head.subarray(2);
        }
        decoder.push(chunk);
        const segs = decoder.next();
        if (segs === null) return;
        done(null, { kind: 'data', message: new MessageReader(segs, { source }) }, decoder.takeRest());
      } catch (err) {
        done(err as Error);
      }
    };
    const onEnd = () => fail('QUIC_TRUNCATED_PREAMBLE', 'the stream ended inside its preamble');
    const onError = (err: Error) => done(err);
    const timer = setTimeout(
      () => fail('QUIC_PREAMBLE_TIMEOUT', 'no complete stream preamble in time'),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

export async function readConnectRequest(stream: Duplex): Promise<ConnectRequest | 'rpc'> {
  const p = await readPreamble(stream, 'edge');
  return p.kind === 'rpc' ? 'rpc' : decodeConnectRequest(p.message);
}

export async function readConnectResponse(stream: Duplex): Promise<ConnectResponse> {
  const p = await readPreamble(stream, 'origin');
  if (p.kind !== 'data')
    throw new TunnelError('QUIC_BAD_SIGNATURE', 'expected a data stream answer, got an RPC signature', {
      source: 'origin',
    });
  return decodeConnectResponse(p.message);
}
