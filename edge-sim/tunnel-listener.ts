import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { bytesToUuid } from '../tunnel/credentials.js';
import { EdgeHttp2Connection } from '../tunnel/http2/edge-connection.js';
import { EdgeQuicConnection } from '../tunnel/quic/edge-quic-connection.js';
import type { QuicConnection } from '../tunnel/quic/quic-connection.js';
import { QuicListener } from '../tunnel/quic/quic-endpoint.js';
import { TRAILERS_FEATURE } from '../tunnel/quic/trailers-framing.js';
import type { RegistrationHandler } from '../tunnel/registration.js';
import type { ConnectionResponse, RegisterConnectionParams } from '../tunnel/schema/tunnelrpc.js';
import type { ConnectionRegistry, EdgeConnection, TunnelLink } from './connection-registry.js';
import type { EdgePki } from '../common/pki.js';
import type { Tunnel, TunnelStore } from './tunnel-store.js';
import { listen, type HostPort } from '../common/net.js';

export interface TunnelListenerOptions {
  host: string;
  port: number;
  location: string;
  pki: EdgePki;
  store: TunnelStore;
  registry: ConnectionRegistry;
  log: Logger;
  /** also accept QUIC on UDP (default true) */
  quic?: boolean;
  /** accept HTTP/2 on TCP (default true); off, the port refuses TCP, as where only UDP gets through */
  http2?: boolean;
  /**
   * Offer the QUIC trailers extension to connectors that list it (default true); off, this edge acts
   * as Cloudflare's, which has no trailers on QUIC.
   */
  quicTrailers?: boolean;
}

function refuse(cause: string, shouldRetry = false): ConnectionResponse {
  return { kind: 'error', error: { cause, retryAfter: shouldRetry ? 1_000_000_000n : 0n, shouldRetry } };
}

/**
 * Accepts connector connections over TCP+TLS (the HTTP/2 transport), checks each registration against
 * the tunnel store, and keeps the registry current. A bad peer costs only its own connection.
 */
export class TunnelListener {
  readonly server: tls.Server;
  /** QUIC on the same port number over UDP, as Cloudflare's edge does; null when turned off */
  readonly quic: QuicListener | null;
  private readonly sockets = new Set<tls.TLSSocket>();

  constructor(private readonly opts: TunnelListenerOptions) {
    this.server = tls.createServer({
      key: opts.pki.keyPem,
      cert: opts.pki.certPem,
      minVersion: 'TLSv1.2',
    });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (err, socket) => {
      opts.log.warn({ err: err.message, remote: socket.remoteAddress }, 'tunnel TLS handshake failed');
    });
    this.quic = opts.quic === false ? null : this.makeQuicListener();
    this.quic?.on('connection', (c) => this.acceptQuic(c));
  }

  private makeQuicListener(): QuicListener | null {
    try {
      return new QuicListener({
        host: this.opts.host,
        port: this.opts.port,
        certPem: this.opts.pki.certPem,
        keyPem: this.opts.pki.keyPem,
      });
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'QUIC is not available here; serving HTTP/2 only');
      return null;
    }
  }

  /** TCP first; then UDP on the very port TCP got, so a port of 0 gives both the same number. */
  async listen(): Promise<HostPort> {
    const at = await listen(this.server, this.opts);
    if (this.quic !== null) await this.quic.listen(at.port);
    // The TCP socket only reserved the port number for UDP.
    if (this.opts.http2 === false) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    return at;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : undefined,
      this.quic?.close(),
    ]);
  }

  private accept(socket: tls.TLSSocket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    this.serve(
      'http2',
      `${socket.remoteAddress}:${socket.remotePort}`,
      (registration) => new EdgeHttp2Connection(socket, { registration }),
    );
  }

  private acceptQuic(conn: QuicConnection): void {
    this.serve(
      'quic',
      `${conn.remote.host}:${conn.remote.port}`,
      (registration) => new EdgeQuicConnection(conn, registration),
    );
  }

  /** Registration and bookkeeping for one connector connection, whichever transport carries it. */
  private serve(
    protocol: string,
    remote: string,
    makeLink: (handler: RegistrationHandler) => TunnelLink & EventEmitter<{ close: [Error | null] }>,
  ): void {
    let registered: EdgeConnection | null = null;
    const { registry, log, location } = this.opts;
    const handler: RegistrationHandler = {
      registerConnection: async (p: RegisterConnectionParams) => {
        const verdict = this.check(p);
        if (verdict !== null) {
          log.warn(
            { remote, protocol, connIndex: p.connIndex, cause: verdict.cause },
            'registration refused',
          );
          return refuse(verdict.cause);
        }
        const tunnelId = bytesToUuid(p.tunnelId);
        const tunnel = this.opts.store.byId(tunnelId) as Tunnel;
        const clientId =
          p.options.client.clientId.length === 16 ? bytesToUuid(p.options.client.clientId) : 'unknown';
        const conn: EdgeConnection = {
          id: randomUUID(),
          tunnelId,
          connIndex: p.connIndex,
          clientId,
          clientVersion: p.options.client.version,
          clientArch: p.options.client.arch,
          features: p.options.client.features,
          protocol,
          location,
          remoteAddress: remote,
          openedAt: new Date(),
          draining: false,
          inflight: 0,
          link,
        };
        if (
          link instanceof EdgeQuicConnection &&
          this.opts.quicTrailers !== false &&
          conn.features.includes(TRAILERS_FEATURE)
        )
          link.offerTrailers = true;
        const replaced = registry.register(conn);
        registered = conn;
        log.info(
          {
            tunnelId,
            protocol,
            connIndex: p.connIndex,
            connectionId: conn.id,
            clientId,
            version: conn.clientVersion,
            replaced: replaced?.id,
          },
          'connection registered',
        );
        // A remotely managed tunnel gets its stored configuration as soon as it is registered.
        if (tunnel.config !== null) {
          const { version, config } = tunnel.config;
          setImmediate(() => {
            link.pushConfiguration(version, config).catch((err: unknown) => {
              log.warn({ connectionId: conn.id, err: (err as Error).message }, 'configuration push failed');
            });
          });
        }
        return {
          kind: 'connectionDetails',
          details: {
            uuid: Buffer.from(conn.id.replace(/-/g, ''), 'hex'),
            locationName: location,
            tunnelIsRemotelyManaged: tunnel.configSrc === 'cloudflare',
          },
        };
      },
      unregisterConnection: async () => {
        if (registered !== null) {
          registry.drain(registered);
          log.info(
            { connectionId: registered.id, connIndex: registered.connIndex },
            'connection unregistered, draining',
          );
        }
      },
      updateLocalConfiguration: async (config: Buffer) => {
        log.debug({ bytes: config.length, tunnelId: registered?.tunnelId }, 'local configuration received');
      },
    };
    const link = makeLink(handler);
    link.on('close', (err) => {
      if (registered !== null) {
        registry.remove(registered);
        log.info(
          { connectionId: registered.id, connIndex: registered.connIndex, protocol, err: err?.message },
          'connection closed',
        );
      } else if (err !== null) {
        log.warn(
          { remote, protocol, err: err.message, code: (err as { code?: string }).code },
          'connection failed before registering',
        );
      }
    });
  }

  /** Null when the registration is acceptable, else why not. */
  private check(p: RegisterConnectionParams): { cause: string } | null {
    if (p.tunnelId.length !== 16) return { cause: 'Unauthorized: tunnel id must be 16 bytes' };
    const tunnel = this.opts.store.byId(bytesToUuid(p.tunnelId));
    if (tunnel === undefined) return { cause: 'Unauthorized: unknown tunnel' };
    if (tunnel.deletedAt !== null) return { cause: 'Unauthorized: the tunnel was deleted' };
    if (tunnel.accountTag !== p.auth.accountTag)
      return { cause: 'Unauthorized: account tag does not match the tunnel' };
    const given = Buffer.from(p.auth.tunnelSecret);
    if (given.length !== tunnel.secret.length || !timingSafeEqual(given, tunnel.secret)) {
      return { cause: 'Unauthorized: Invalid tunnel secret' };
    }
    return null;
  }
}
