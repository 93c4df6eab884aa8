import { TunnelError, type ErrorSource } from '../errors.js';
import { MessageReader, type ReaderOptions } from './reader.js';

/**
 * The standard unpacked stream framing: u32 (segments − 1), one u32 size in words per segment, padding
 * to 8 bytes, then the segments. The decoder is incremental and refuses, before allocating, any frame
 * that claims more than the configured limits.
 */
export interface FrameLimits {
  maxSegments?: number;
  maxBytes?: number;
  source?: ErrorSource;
}

export const DEFAULT_MAX_SEGMENTS = 512;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxSegments: number;
  private readonly maxBytes: number;
  private readonly source: ErrorSource;

  constructor(limits: FrameLimits = {}) {
    this.maxSegments = limits.maxSegments ?? DEFAULT_MAX_SEGMENTS;
    this.maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
    this.source = limits.source ?? 'edge';
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Removes and returns whatever bytes follow the frames read so far. */
  takeRest(): Buffer {
    const rest = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  /** The next complete message's segments, or null until enough bytes have arrived. */
  next(): Buffer[] | null {
    if (this.buffered < 8) return null;
    const head = this.peek(8);
    const segCount = head.readUInt32LE(0) + 1;
    if (segCount > this.maxSegments)
      this.fail(`${segCount} segments exceeds the limit of ${this.maxSegments}`);
    const headerBytes = 4 + segCount * 4 + (segCount % 2 === 0 ? 4 : 0);
    if (this.buffered < headerBytes) return null;
    const header = this.peek(headerBytes);
    let total = 0;
    for (let i = 0; i < segCount; i++) total += header.readUInt32LE(4 + i * 4) * 8;
    if (total > this.maxBytes) this.fail(`message of ${total} bytes exceeds the limit of ${this.maxBytes}`);
    if (total === 0) this.fail('empty message');
    if (this.buffered < headerBytes + total) return null;
    const all = this.take(headerBytes + total);
    const segments: Buffer[] = [];
    let at = headerBytes;
    for (let i = 0; i < segCount; i++) {
      const len = header.readUInt32LE(4 + i * 4) * 8;
      segments.push(all.subarray(at, at + len));
      at += len;
    }
    return segments;
  }

  private fail(message: string): never {
    throw new TunnelError('FRAME_INVALID', `invalid Cap'n Proto frame: ${message}`, { source: this.source });
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    const merged = Buffer.concat(this.chunks);
    this.chunks = [merged];
    return merged.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const head = this.chunks[0] as Buffer;
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return first;
  }
}

/** Decodes exactly one framed message from a complete buffer (tests, fuzzing, one-shot reads). */
export function decodeFrame(bytes: Buffer, options: ReaderOptions & FrameLimits = {}): MessageReader {
  const d = new FrameDecoder(options);
  d.push(bytes);
  const segs = d.next();
  if (segs === null) {
    throw new TunnelError('FRAME_INVALID', "truncated Cap'n Proto frame", {
      source: options.source ?? 'edge',
    });
  }
  return new MessageReader(segs, options);
}
