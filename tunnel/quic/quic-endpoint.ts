import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { TunnelError } from '../errors.js';
import { QUIC_ALPN, QUIC_SERVER_NAME, quicConfig, type QuicTlsOptions } from './quic-config.js';
import { quiche } from './native.js';
import { QuicConnection } from './quic-connection.js';
import { packetSender } from './udp-batch.js';

/**
 * UDP sockets for QUIC. The client side uses a connect()ed socket (no per-packet address lookup); the
 * server routes each datagram to its connection by the destination connection id, parsed here rather
 * than through quiche's header parser. Both ask for 4 MiB socket buffers: smaller ones dropped packets.
 */
const CID_LEN = 16;
const SOCKET_BUFFER = 4 * 1024 * 1024;

function bigBuffers(s: dgram.Socket): void {
  try {
    s.setRecvBufferSize(SOCKET_BUFFER);
    s.setSendBufferSize(SOCKET_BUFFER);
  } catch {
    // the kernel's limit (net.core.rmem_max) may be lower; the default then applies
  }
}

export interface DialOptions extends QuicTlsOptions {
  host: string;
  port: number;
  serverName?: string;
  handshakeTimeoutMs?: number;
  /** only tests offer anything but argotunnel */
  alpn?: string;
  /** the local address to send from (cloudflared's --edge-bind-address) */
  localAddress?: string;
}

/** Dials and completes the handshake; rejects on a TLS failure, a wrong ALPN or a silent peer. */
export async function dialQuic(opts: DialOptions): Promise<QuicConnection> {
  const family = opts.host.includes(':') ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type: family });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, opts.localAddress, () => {
      socket.connect(opts.port, opts.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  });
  bigBuffers(socket);
  const addr = socket.address();
  const local = { host: addr.address, port: addr.port };
  const remote = { host: opts.host, port: opts.port };
  const native = quiche().Connection.connect(
    opts.serverName ?? QUIC_SERVER_NAME,
    randomBytes(CID_LEN),
    local,
    remote,
    quicConfig(false, opts, opts.alpn),
  );
  const conn = new QuicConnection(native, true, packetSender(socket, null), local, remote, 'edge');
  socket.on('message', (msg) => conn.receive(msg));
  // A refused or unreachable port comes back as an ICMP error on the connected socket.
  let socketError: Error | null = null;
  socket.on('error', (err) => {
    socketError ??= err;
    conn.close(0, 'socket error');
  });
  conn.once('close', () => socket.close());
  conn.touch();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new TunnelError(
          'QUIC_HANDSHAKE_TIMEOUT',
          `no QUIC handshake with ${opts.host}:${opts.port} within ${opts.handshakeTimeoutMs ?? 5000} ms (UDP blocked?)`,
          { source: 'edge' },
        ),
      );
      // After the reject: closing calls the close handler, whose reject would otherwise win.
      conn.close(0, 'handshake timeout');
    }, opts.handshakeTimeoutMs ?? 5000);
    conn.once('established', () => {
      clearTimeout(timer);
      const alpn = Buffer.from(native.applicationProto()).toString();
      if (alpn !== QUIC_ALPN) {
        conn.close(0x178, 'wrong ALPN');
        reject(
          new TunnelError('QUIC_ALPN', `the edge selected ALPN "${alpn}", not ${QUIC_ALPN}`, {
            source: 'edge',
          }),
        );
        return;
      }
      resolve(conn);
    });
    conn.once('close', (info) => {
      clearTimeout(timer);
      if (socketError !== null) {
        reject(
          new TunnelError(
            'EDGE_DIAL_FAILED',
            `cannot reach the edge at ${opts.host}:${opts.port} over UDP: ${socketError.message}`,
            { source: 'edge', cause: socketError },
          ),
        );
        return;
      }
      const certificate = info.code !== null && isCertificateAlert(info.code);
      reject(
        new TunnelError(
          info.timedOut
            ? 'QUIC_HANDSHAKE_TIMEOUT'
            : certificate
              ? 'EDGE_CERTIFICATE'
              : 'QUIC_HANDSHAKE_FAILED',
          `QUIC handshake with ${opts.host}:${opts.port} failed${info.reason ? `: ${info.reason}` : info.code !== null ? `: ${describeCloseCode(info.code)}` : ''}`,
          { source: 'edge' },
        ),
      );
    });
  });
}

/** TLS alerts a failed handshake reports (RFC 8446 §6), by number. */
const TLS_ALERTS: Record<number, string> = {
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  48: 'unknown_ca',
  51: 'decrypt_error',
  70: 'protocol_version',
  80: 'internal_error',
  120: 'no_application_protocol',
};
const CERTIFICATE_ALERTS = new Set([42, 43, 44, 45, 46, 48]);

/** A close code carrying a certificate alert: the edge's certificate did not verify. */
export function isCertificateAlert(code: number): boolean {
  return code >= 0x100 && code <= 0x1ff && CERTIFICATE_ALERTS.has(code - 0x100);
}

/**
 * A QUIC close code in words. 0x100-0x1ff are CRYPTO_ERRORs carrying a TLS alert (RFC 9001 §4.8);
 * the certificate ones mean the edge's certificate did not verify, the first thing to check.
 */
export function describeCloseCode(code: number): string {
  if (code < 0x100 || code > 0x1ff) return `code 0x${code.toString(16)}`;
  const alert = code - 0x100;
  const name = TLS_ALERTS[alert] ?? `alert ${alert}`;
  const hint = CERTIFICATE_ALERTS.has(alert)
    ? ": the edge's certificate did not verify against the trusted CAs (the CA file given, or the system roots)"
    : '';
  return `TLS ${name} (code 0x${code.toString(16)})${hint}`;
}

export interface ListenOptions {
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
}

/** Accepts QUIC connections on one UDP socket. */
export class QuicListener extends EventEmitter<{ connection: [QuicConnection] }> {
  private readonly socket: dgram.Socket;
  private readonly byCid = new Map<string, QuicConnection>();
  private readonly config;

  constructor(private readonly opts: ListenOptions) {
    super();
    const type = opts.host.includes(':') ? 'udp6' : 'udp4';
    // Every send names the peer's IP; Node would pass it through dns.lookup and the next tick each time.
    const family = type === 'udp6' ? 6 : 4;
    this.socket = dgram.createSocket({
      type,
      lookup: (
        address: string,
        _opts: unknown,
        cb: (err: Error | null, address: string, family: number) => void,
      ) => cb(null, address, family),
    } as dgram.SocketOptions);
    this.config = quicConfig(true, { certPem: opts.certPem, keyPem: opts.keyPem });
    this.socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    this.socket.on('error', () => {});
  }

  /** Binds the UDP socket; `port` overrides the configured one (edge-sim uses its TCP port's number). */
  listen(port = this.opts.port): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(port, this.opts.host, () => {
        this.socket.off('error', reject);
        bigBuffers(this.socket);
        const a = this.socket.address();
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 1 + CID_LEN) return;
    const long = (msg[0] as number) & 0x80;
    let dcidStart: number;
    let dcidLen: number;
    if (long !== 0) {
      if (msg.length < 7) return;
      dcidLen = msg[5] as number;
      dcidStart = 6;
      if (dcidLen > 20 || msg.length < dcidStart + dcidLen) return;
    } else {
      dcidStart = 1;
      dcidLen = CID_LEN;
    }
    const key = msg.toString('latin1', dcidStart, dcidStart + dcidLen);
    const conn = this.byCid.get(key);
    if (conn !== undefined) {
      conn.receive(msg);
      return;
    }
    // Only a client's Initial packet (long header, type 0) may start a connection.
    if (long === 0 || (((msg[0] as number) >> 4) & 0x03) !== 0 || msg.length < 1200) return;
    const scid = randomBytes(CID_LEN);
    const local = { host: this.socket.address().address, port: this.socket.address().port };
    const remote = { host: rinfo.address, port: rinfo.port };
    let native;
    try {
      // No odcid: quiche would take it for the result of a Retry and send retry_source_connection_id,
      // which quic-go (cloudflared) rejects since no Retry happened.
      native = quiche().Connection.accept(scid, null, local, remote, this.config);
    } catch {
      return;
    }
    const created = new QuicConnection(
      native,
      false,
      packetSender(this.socket, remote),
      local,
      remote,
      'origin',
    );
    const scidKey = scid.toString('latin1');
    this.byCid.set(key, created);
    this.byCid.set(scidKey, created);
    created.once('close', () => {
      this.byCid.delete(key);
      this.byCid.delete(scidKey);
    });
    let announced = false;
    created.on('established', () => {
      if (announced) return;
      announced = true;
      this.emit('connection', created);
    });
    created.receive(msg);
  }

  connections(): QuicConnection[] {
    return [...new Set(this.byCid.values())];
  }

  close(): Promise<void> {
    for (const c of this.connections()) c.close(0, 'edge shutting down');
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
