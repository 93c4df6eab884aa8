import type dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostPort } from './native.js';

/**
 * How a QUIC connection hands its packets to the kernel. quiche builds a flush's packets one by one;
 * through node:dgram each is one send request and one system call. Where the optional addon
 * (native/udp_batch.c, built at install) loads, the packets of one flush go out in one sendmmsg(2)
 * call instead, each run of equal-sized packets as one UDP GSO message where the kernel has GSO. What the kernel cannot take at once (a full socket buffer) goes through node:dgram,
 * which queues it; QUIC does not mind the order.
 */
export interface PacketSender {
  /** a buffer to write the next packet into, valid until push() */
  next(): Buffer;
  /** the packet just written into next()'s buffer is `length` bytes */
  push(length: number): void;
  /** sends whatever was pushed and not yet sent */
  send(): void;
}

/** The largest datagram quiche writes (its max_send_udp_payload_size is below this). */
export const SEND_BUFFER = 1500;

interface Addon {
  sendBatch(
    fd: number,
    data: Buffer,
    lengths: Uint32Array,
    count: number,
    host: string | null,
    port: number,
  ): number;
  maxBatch: number;
}

let addon: Addon | null | undefined;

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.TUNNEL_UDP_BATCH === 'off' || process.platform !== 'linux') return null;
  // build/Release/ at the package root, found from here whether this runs from source or from dist/
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, 'build', 'Release', 'udp_batch.node');
    if (existsSync(file)) {
      try {
        addon = createRequire(import.meta.url)(file) as Addon;
      } catch {
        addon = null;
      }
      break;
    }
    dir = path.dirname(dir);
  }
  return addon;
}

/** What sends QUIC packets here: `sendmmsg` (the addon) or `dgram` (one send per packet). */
export function udpSendMode(): 'sendmmsg' | 'dgram' {
  return loadAddon() === null ? 'dgram' : 'sendmmsg';
}

/** The socket's file descriptor through node:dgram's internal state, or -1 where it is not there. */
function fdOf(socket: dgram.Socket): number {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[sym];
  const fd = (state as { handle?: { fd?: unknown } } | undefined)?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** `remote`: where packets go; null for a connect()ed socket. `mode` forces one way (tests). */
export function packetSender(
  socket: dgram.Socket,
  remote: HostPort | null,
  mode = udpSendMode(),
): PacketSender {
  const a = mode === 'sendmmsg' ? loadAddon() : null;
  const fd = a === null ? -1 : fdOf(socket);
  return a === null || fd < 0 ? new DgramSender(socket, remote) : new BatchSender(a, fd, socket, remote);
}

/** One node:dgram send per packet, each in a buffer of its own (the send is asynchronous). */
class DgramSender implements PacketSender {
  private buf = Buffer.allocUnsafe(SEND_BUFFER);

  constructor(
    private readonly socket: dgram.Socket,
    private readonly remote: HostPort | null,
  ) {}

  next(): Buffer {
    return this.buf;
  }

  push(length: number): void {
    const packet = this.buf.subarray(0, length);
    this.buf = Buffer.allocUnsafe(SEND_BUFFER);
    sendOne(this.socket, this.remote, packet);
  }

  send(): void {}
}

function sendOne(socket: dgram.Socket, remote: HostPort | null, packet: Buffer): void {
  if (remote === null) socket.send(packet);
  else socket.send(packet, remote.port, remote.host);
}

const EBADF = 9;
const ENOTSOCK = 88;

/** Packets written back to back into one buffer, handed over in one sendmmsg per flush (or per 64). */
class BatchSender implements PacketSender {
  private readonly data: Buffer;
  private readonly lengths: Uint32Array;
  private count = 0;
  private offset = 0;
  private broken = false;

  constructor(
    private readonly addon: Addon,
    private readonly fd: number,
    private readonly socket: dgram.Socket,
    private readonly remote: HostPort | null,
  ) {
    this.data = Buffer.allocUnsafe(addon.maxBatch * SEND_BUFFER);
    this.lengths = new Uint32Array(addon.maxBatch);
  }

  next(): Buffer {
    return this.data.subarray(this.offset, this.offset + SEND_BUFFER);
  }

  push(length: number): void {
    this.lengths[this.count++] = length;
    this.offset += length;
    if (this.count === this.addon.maxBatch) this.send();
  }

  send(): void {
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    this.offset = 0;
    const r = this.broken
      ? -1
      : this.addon.sendBatch(
          this.fd,
          this.data,
          this.lengths,
          n,
          this.remote?.host ?? null,
          this.remote?.port ?? 0,
        );
    if (r === n) return;
    // A socket buffer that is full takes the rest later through dgram's queue; any other refusal is
    // left to dgram to report (a refused port comes back as the socket's 'error', as without the addon).
    // A descriptor that is not (or no longer) a socket: every later batch goes through dgram.
    if (r === -EBADF || r === -ENOTSOCK) this.broken = true;
    let off = 0;
    const sent = Math.max(0, r);
    for (let i = 0; i < n; i++) {
      const len = this.lengths[i] as number;
      if (i >= sent) sendOne(this.socket, this.remote, Buffer.from(this.data.subarray(off, off + len)));
      off += len;
    }
  }
}
