import { EventEmitter } from 'node:events';
import { TunnelError, type ErrorSource } from '../errors.js';
import { markDirty, type Flushable } from './flush-scheduler.js';
import type { HostPort, QuicheConnection } from './native.js';
import { QuicStream } from './quic-stream.js';
import type { PacketSender } from './udp-batch.js';

/**
 * One QUIC connection over quiche: feeds it datagrams, drains its packets once per event-loop turn,
 * keeps one timer re-armed from quiche's own timeout, and maps its streams to QuicStream duplexes.
 * The same class serves the agent (client) and the edge (server).
 */

export interface QuicCloseInfo {
  /** our side closed it (close() or a local error) rather than the peer or an idle timeout */
  local: boolean;
  timedOut: boolean;
  code: number | null;
  reason: string;
}

export class QuicConnection
  extends EventEmitter<{ established: []; stream: [QuicStream]; close: [QuicCloseInfo] }>
  implements Flushable
{
  readonly recvBuffer = Buffer.allocUnsafe(64 * 1024);
  private readonly streams = new Map<number, QuicStream>();
  private readonly blockedStreams = new Set<QuicStream>();
  private nextStream: number;
  private timer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private established = false;
  private closed = false;
  lastReceived = Date.now();
  /** when packets were last built from the streams' data (performance.now()) */
  flushedAt = 0;

  constructor(
    readonly native: QuicheConnection,
    readonly isClient: boolean,
    /** where packets go: one sendmmsg per flush where the addon loaded, else node:dgram (udp-batch.ts) */
    private readonly sender: PacketSender,
    readonly local: HostPort,
    readonly remote: HostPort,
    /** who is on the other side, for error attribution */
    readonly peer: ErrorSource,
    keepaliveMs = 1000,
  ) {
    super();
    this.recvInfo = { to: local, from: remote };
    this.nextStream = isClient ? 0 : 1;
    if (keepaliveMs > 0) {
      // quic-go (cloudflared) sends a PING every second when idle; quiche leaves that to the application.
      this.keepalive = setInterval(() => {
        if (this.closed || !this.established) return;
        this.native.sendAckEliciting();
        markDirty(this);
      }, keepaliveMs);
      this.keepalive.unref();
    }
  }

  get isEstablished(): boolean {
    return this.established;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  private readonly recvInfo: { to: HostPort; from: HostPort };
  private received = false;

  /**
   * One datagram from the peer: only handed to quiche here. Streams are served, and packets sent, once
   * per event-loop turn in flush(), after every datagram of the turn has been fed in.
   */
  receive(datagram: Buffer): void {
    if (this.closed) return;
    this.received = true;
    try {
      this.native.recv(datagram, this.recvInfo);
    } catch {
      // quiche drops what it cannot use (a corrupt or stray packet); the connection goes on
    }
    markDirty(this);
  }

  /** Asks for a flush in this turn's batch. */
  touch(): void {
    if (!this.closed) markDirty(this);
  }

  private process(): void {
    const q = this.native;
    if (!this.established && q.isEstablished()) {
      this.established = true;
      this.emit('established');
    }
    if (this.established) {
      for (const id of q.readable()) {
        let s = this.streams.get(id);
        if (s === undefined) {
          if (this.isLocal(id)) continue; // a stream we already forgot
          s = new QuicStream(this, id, this.peer);
          this.streams.set(id, s);
          this.emit('stream', s);
        }
        s.onReadable();
      }
      if (this.blockedStreams.size > 0) {
        for (const s of [...this.blockedStreams]) {
          let capacity: number;
          try {
            capacity = q.streamCapacity(s.id);
          } catch (err) {
            // The peer stopped or reset the stream while a write waited (a visitor who left): that
            // stream fails, never the connection or the process.
            this.blockedStreams.delete(s);
            s.writeFailed(err);
            continue;
          }
          if (capacity <= 0) continue;
          if (!s.onWritable()) this.blockedStreams.delete(s);
        }
      }
    }
    if (q.isClosed()) this.finish();
  }

  private isLocal(id: number): boolean {
    return (id & 1) === (this.isClient ? 0 : 1);
  }

  flush(): void {
    if (this.closed) return;
    if (this.received) {
      this.received = false;
      this.lastReceived = Date.now();
      this.process();
      if (this.closed) return;
    }
    this.flushedAt = performance.now();
    const q = this.native;
    const out = this.sender;
    for (;;) {
      let r: [number, unknown] | null;
      try {
        r = q.send(out.next());
      } catch {
        break;
      }
      if (r === null) break;
      out.push(r[0]);
    }
    out.send();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (q.isClosed()) {
      this.finish();
      return;
    }
    const t = q.timeout();
    if (t !== null) {
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(t)));
    }
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.closed) return;
    this.native.onTimeout();
    this.process();
    this.flush();
  };

  /** Opens a bidirectional stream of ours (client: 0, 4, 8…; server: 1, 5, 9…). */
  openStream(): QuicStream {
    if (this.closed)
      throw new TunnelError('QUIC_CLOSED', 'the QUIC connection is closed', { source: 'internal' });
    const id = this.nextStream;
    this.nextStream += 4;
    const s = new QuicStream(this, id, this.peer);
    this.streams.set(id, s);
    return s;
  }

  /** For QuicStream: a write waits for capacity. */
  blocked(s: QuicStream): void {
    this.blockedStreams.add(s);
  }

  /** For QuicStream: it is done. */
  forget(s: QuicStream): void {
    this.streams.delete(s.id);
    this.blockedStreams.delete(s);
  }

  /** Closes with an application error code (CONNECTION_CLOSE, app = true). */
  close(code = 0, reason = ''): void {
    if (this.closed) return;
    try {
      this.native.close(true, code, Buffer.from(reason));
    } catch {
      // already closing
    }
    this.flush();
    // quiche keeps a closing connection in the draining state; nothing more will be read from it.
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.keepalive !== null) clearInterval(this.keepalive);
    const q = this.native;
    const peerErr = q.peerError();
    const localErr = q.localError();
    const err = peerErr ?? localErr;
    const info: QuicCloseInfo = {
      local: peerErr === null,
      timedOut: q.isTimedOut(),
      code: err === null ? null : Number(err.errorCode),
      reason: err === null ? '' : Buffer.from(err.reason).toString('utf8'),
    };
    const lost = new TunnelError(
      info.timedOut ? 'QUIC_IDLE_TIMEOUT' : 'QUIC_CLOSED',
      info.timedOut
        ? 'the QUIC connection timed out (no packets from the peer)'
        : `the QUIC connection closed${info.reason ? `: ${info.reason}` : ''}`,
      { source: info.local && !info.timedOut ? 'internal' : this.peer },
    );
    for (const s of [...this.streams.values()]) s.connectionLost(lost);
    this.streams.clear();
    this.blockedStreams.clear();
    this.emit('close', info);
  }
}
