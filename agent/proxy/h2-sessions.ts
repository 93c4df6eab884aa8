import http2, { type ClientHttp2Session } from 'node:http2';
import type { Logger } from 'pino';
import { identityCheck, originCas, type OriginOptions } from '../routing/origin-options.js';
import { OriginError } from './origin-error.js';

export interface H2SessionOptions {
  connectTimeoutMs: number;
  /** a session with no stream open for this long is closed (cloudflared's 90 s keep-alive) */
  idleTimeoutMs: number;
  log: Logger;
}

type Session = ClientHttp2Session & { active?: number };

/**
 * HTTP/2 connections to origins (backend-protocol H2C, GRPC: prior knowledge; GRPCS: TLS with ALPN
 * h2), one multiplexed session per endpoint and setting, made on first use with node:http2 (undici's
 * HTTP/2 client drops response trailers, which gRPC cannot do without). A session that fails, gets
 * GOAWAY or idles out is forgotten; the next request dials again.
 */
export class H2Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly opts: H2SessionOptions) {}

  /** The session for `origin` (http://ip:port or https://ip:port); `servername` is TLS's SNI. */
  get(origin: string, o: OriginOptions, servername: string): ClientHttp2Session {
    const key = o.tls ? `${o.key}|${origin}|${servername}` : `${o.key}|${origin}`;
    const existing = this.sessions.get(key);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const s: Session = http2.connect(origin, {
      ...(o.tls
        ? {
            servername: o.sni ?? servername,
            ca: originCas(o),
            rejectUnauthorized: !o.insecure,
            ...identityCheck(o),
            ALPNProtocols: ['h2'],
          }
        : {}),
      settings: { enablePush: false },
      peerMaxConcurrentStreams: 1000,
    });
    s.active = 0;
    this.sessions.set(key, s);
    const forget = () => {
      if (this.sessions.get(key) === s) this.sessions.delete(key);
    };
    const connectTimeout = o.connectTimeoutMs ?? this.opts.connectTimeoutMs;
    const timer = setTimeout(() => {
      s.destroy(
        new OriginError(
          'ORIGIN_CONNECT_TIMEOUT',
          'connect',
          `connect to ${origin} timed out after ${connectTimeout} ms`,
        ),
      );
    }, connectTimeout);
    s.once('connect', () => clearTimeout(timer));
    s.on('error', (err) => {
      this.opts.log.debug({ origin, err: err.message }, 'HTTP/2 origin session failed');
    });
    s.once('close', () => {
      clearTimeout(timer);
      forget();
    });
    s.once('goaway', forget);
    s.setTimeout(this.opts.idleTimeoutMs, () => {
      if ((s.active ?? 0) === 0) {
        forget();
        s.close();
      }
    });
    return s;
  }

  /** Counts the session's open streams, for the idle timeout. */
  static opened(s: ClientHttp2Session): void {
    (s as Session).active = ((s as Session).active ?? 0) + 1;
  }

  static closed(s: ClientHttp2Session): void {
    (s as Session).active = ((s as Session).active ?? 1) - 1;
  }

  close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    return Promise.all(
      all.map((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.close(() => resolve())))),
    ).then(() => {});
  }
}
