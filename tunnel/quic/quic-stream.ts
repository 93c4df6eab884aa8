import { Duplex } from 'node:stream';
import { TunnelError, type ErrorSource } from '../errors.js';
import { SHUTDOWN_READ, SHUTDOWN_WRITE } from './native.js';
import type { QuicConnection } from './quic-connection.js';

/**
 * quiche 0.18 loses a FIN written on its own while the stream's last data is in flight (sent, not yet
 * acknowledged): the peer never sees the stream end. A FIN written with data always goes out, and one
 * written alone after the data was acknowledged does too, unless its packet is lost on a stream whose
 * reading side has ended: quiche counts such a stream complete once its data is acknowledged, forgets
 * it, and never sends the FIN again (seen under load, where UDP buffers drop datagrams). So a bulk
 * stream (a body that is only useful whole) keeps the last byte of each write back until its next
 * write or its end, to carry the FIN; so does any stream whose reading side has ended (an answer:
 * server-sent events, a gRPC stream), but only for HOLD_MS, after which the byte goes on its own; on
 * any other stream (websockets, read as they come) and past HOLD_MS, a FIN that finds its data
 * already sent waits FIN_AFTER_DATA_MS after the last write, for the acknowledgement, and longer
 * while packets are being lost.
 */
export const FIN_AFTER_DATA_MS = 80;
/** How long an answering stream holds the last byte of a write for an end() that may follow. */
export const HOLD_MS = 10;
/** The longest a FIN waits for its data's acknowledgement while packets are being lost. */
const FIN_WAIT_MAX_MS = 3000;
const EMPTY = Buffer.alloc(0);

function releaseLater(s: QuicStream): void {
  s.releaseHeld();
}

/**
 * One QUIC stream as a Node Duplex. Reads pull from quiche only while the consumer wants data, so an
 * unread stream keeps its flow-control credit and the peer stops (backpressure). Writes go to quiche
 * as far as the stream's capacity allows; the rest waits, with its callback, until quiche has room.
 */
export class QuicStream extends Duplex {
  /** hold the last byte until the next write or the end, however long that takes */
  bulk = false;
  /** the byte held back (0-255), or -1 */
  private held = -1;
  /**
   * releaseHeld() was asked while a write was blocked: the byte goes once that write is through,
   * unless a later write took it along first. Without this, a message head (a ConnectRequest) stuck
   * behind congestion lost its last byte until the body came, and a body that never came meant a
   * request the other side never saw.
   */
  private releaseWanted = false;
  /** when data last went to quiche */
  private lastDataAt = 0;
  private finTimer: NodeJS.Timeout | null = null;
  /** releases a byte held on a stream that is not bulk (HOLD_MS) */
  private releaseTimer: NodeJS.Timeout | null = null;
  /** the connection's lost-packet count when a waiting FIN last looked; -1 before */
  private finLost = -1;
  private pending: Buffer | null = null;
  private pendingCb: ((err?: Error | null) => void) | null = null;
  private finPending: ((err?: Error | null) => void) | null = null;
  private wantRead = true;
  private readEnded = false;
  /** the peer reset its sending side or asked us to stop sending */
  resetCode: number | null = null;

  constructor(
    readonly conn: QuicConnection,
    readonly id: number,
    private readonly peer: ErrorSource,
  ) {
    super({ highWaterMark: 256 * 1024, allowHalfOpen: true });
  }

  /** quiche says the stream has data (or a FIN, or a reset). */
  onReadable(): void {
    if (!this.wantRead || this.readEnded) return;
    const q = this.conn.native;
    const buf = this.conn.recvBuffer;
    for (;;) {
      let r: [number, boolean] | null;
      try {
        r = q.streamRecv(this.id, buf);
      } catch (err) {
        this.readEnded = true;
        this.resetCode = parseCode(err);
        this.destroy(
          new TunnelError(
            'QUIC_STREAM_RESET',
            `stream ${this.id} was reset by the peer (code ${this.resetCode})`,
            { source: this.peer, cause: err },
          ),
        );
        return;
      }
      if (r === null) return;
      const [n, fin] = r;
      if (n > 0) this.wantRead = this.push(Buffer.from(buf.subarray(0, n)));
      if (fin) {
        this.readEnded = true;
        this.push(null);
        return;
      }
      if (!this.wantRead) return;
    }
  }

  override _read(): void {
    this.wantRead = true;
    this.onReadable();
    this.conn.touch();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const n = chunk.length;
    if ((!this.bulk && !this.readEnded) || n === 0) {
      if (this.held >= 0) this.releaseHeld();
      if (n === 0) cb();
      else this.send(chunk, cb);
      return;
    }
    let out: Buffer;
    if (this.held >= 0) {
      this.releaseWanted = false;
      out = Buffer.allocUnsafe(n);
      out[0] = this.held;
      chunk.copy(out, 1, 0, n - 1);
    } else {
      out = chunk.subarray(0, n - 1);
    }
    this.held = chunk[n - 1] as number;
    if (!this.bulk) this.releaseTimer ??= setTimeout(releaseLater, HOLD_MS, this);
    if (out.length === 0) cb();
    else this.send(out, cb);
  }

  /** Sends the byte held back, as when a message head must arrive whole. */
  releaseHeld(): void {
    this.stopReleaseTimer();
    if (this.held < 0 || this.destroyed) return;
    if (this.pending !== null) {
      this.releaseWanted = true;
      return;
    }
    this.releaseWanted = false;
    const byte = Buffer.from([this.held]);
    this.held = -1;
    this.send(byte, noop);
  }

  private stopReleaseTimer(): void {
    if (this.releaseTimer === null) return;
    clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
  }

  private send(chunk: Buffer, cb: (err?: Error | null) => void): void {
    let written: number | null;
    try {
      written = this.conn.native.streamSend(this.id, chunk, false);
    } catch (err) {
      cb(
        new TunnelError(
          'QUIC_STREAM_STOPPED',
          `stream ${this.id} cannot be written (code ${parseCode(err)})`,
          { source: this.peer, cause: err },
        ),
      );
      return;
    }
    this.conn.touch();
    this.lastDataAt = performance.now();
    const n = written ?? 0;
    if (n >= chunk.length) {
      cb();
      return;
    }
    this.pending = n === 0 ? chunk : chunk.subarray(n);
    this.pendingCb = cb;
    this.conn.blocked(this);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.pending !== null) {
      this.finPending = cb;
      return;
    }
    this.sendFin(cb);
  }

  private sendFin(cb: (err?: Error | null) => void): void {
    let last = EMPTY;
    if (this.held >= 0) {
      this.stopReleaseTimer();
      last = Buffer.from([this.held]);
    } else if (this.lastDataAt > 0 && this.lastDataAt <= this.conn.flushedAt) {
      // Data still in quiche's buffer takes the FIN along; only data already sent makes it wait, for
      // its acknowledgement: a FIN alone while it is in flight would be lost (see above).
      const now = performance.now();
      const lost = this.conn.native.stats().lost;
      let wait = this.lastDataAt + FIN_AFTER_DATA_MS - now;
      // A packet lost since the last look may be this stream's data, acknowledged only once it has
      // been sent again: wait another period (a loaded machine's UDP buffers drop datagrams, and a
      // FIN sent on time for the first copy was lost with the second). Bounded: then it goes anyway.
      if (wait <= 0 && this.finLost >= 0 && lost > this.finLost && now - this.lastDataAt < FIN_WAIT_MAX_MS)
        wait = FIN_AFTER_DATA_MS;
      this.finLost = lost;
      if (wait > 0) {
        this.finTimer = setTimeout(() => {
          this.finTimer = null;
          // After this turn's datagrams (an acknowledgement may be waiting in the socket).
          setImmediate(() => {
            if (this.destroyed) cb(new Error('stream destroyed'));
            else this.sendFin(cb);
          });
        }, wait);
        return;
      }
    }
    try {
      const r = this.conn.native.streamSend(this.id, last, true);
      if (r === null) {
        this.finPending = cb;
        this.conn.blocked(this);
        return;
      }
      this.held = -1;
    } catch (err) {
      cb(
        new TunnelError(
          'QUIC_STREAM_STOPPED',
          `stream ${this.id} cannot be finished (code ${parseCode(err)})`,
          { source: this.peer, cause: err },
        ),
      );
      return;
    }
    this.conn.touch();
    cb();
  }

  /** quiche has room again: continue a blocked write or FIN. Returns true while still blocked. */
  onWritable(): boolean {
    if (this.pending !== null) {
      const chunk = this.pending;
      const cb = this.pendingCb as (err?: Error | null) => void;
      this.pending = null;
      this.pendingCb = null;
      this.send(chunk, cb);
      if (this.pending !== null) return true;
      if (this.releaseWanted) this.releaseHeld();
      if (this.pending !== null) return true;
    }
    if (this.finPending !== null) {
      const cb = this.finPending;
      this.finPending = null;
      this.sendFin(cb);
      return this.finPending !== null;
    }
    return false;
  }

  /** A waiting write can never complete (the peer stopped the stream). */
  writeFailed(cause: unknown): void {
    if (this.destroyed) return;
    this.destroy(
      new TunnelError('QUIC_STREAM_STOPPED', `stream ${this.id} was stopped by the peer`, {
        source: this.peer,
        cause,
      }),
    );
  }

  /** Like an HTTP/2 stream's close(code): reset both directions. */
  close(code = 0): void {
    this.reset(code);
  }

  /** The peer's reset code, as HTTP/2 streams report theirs. */
  get rstCode(): number | undefined {
    return this.resetCode ?? undefined;
  }

  /** Resets both directions with an application error code (RESET_STREAM and STOP_SENDING). */
  reset(code = 0): void {
    this.abortNative(code);
    this.destroy();
  }

  private abortNative(code: number): void {
    const q = this.conn.native;
    try {
      q.streamShutdown(this.id, SHUTDOWN_READ, code);
    } catch {
      // already closed in that direction
    }
    try {
      q.streamShutdown(this.id, SHUTDOWN_WRITE, code);
    } catch {
      // already closed in that direction
    }
    this.conn.touch();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.finTimer !== null) clearTimeout(this.finTimer);
    this.stopReleaseTimer();
    if (!this.readEnded || !this.writableFinished) this.abortNative(0);
    this.conn.forget(this);
    const pcb = this.pendingCb;
    this.pendingCb = null;
    this.pending = null;
    pcb?.(err ?? new Error('stream destroyed'));
    cb(err);
  }

  /** The connection went away underneath. */
  connectionLost(err: Error): void {
    if (!this.destroyed) this.destroy(err);
  }
}

function parseCode(err: unknown): number {
  const m = /(\d+)/.exec(err instanceof Error ? err.message : String(err));
  return m === null ? -1 : Number(m[1]);
}

function noop(): void {}
