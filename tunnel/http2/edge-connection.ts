import { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { TunnelError } from '../errors.js';
import { PROXY_CONNECTION_UPGRADE } from '../header-packing.js';
import { registrationServer, type RegistrationHandler } from '../registration.js';
import { RpcConnection } from '../rpc/rpc-connection.js';
import { H2_SERVER_NAME } from './agent-connection.js';
import {
  DEFAULT_KEEPALIVE,
  MAX_SESSION_MEMORY_MB,
  TUNNEL_SETTINGS,
  raiseConnectionWindow,
  startKeepalive,
  type KeepaliveOptions,
} from './settings.js';

export interface EdgeHttp2Options {
  registration: RegistrationHandler;
  keepalive?: KeepaliveOptions;
}

/**
 * The edge's end of one HTTP/2 tunnel connection: it accepted the TLS socket but is the HTTP/2 client,
 * opening the control stream first and then one stream per visitor request.
 */
export class EdgeHttp2Connection extends EventEmitter<{ close: [Error | null] }> {
  readonly protocol = 'http2';
  readonly session: http2.ClientHttp2Session;
  private readonly rpc: RpcConnection;
  private readonly stopKeepalive: () => void;
  private closed = false;
  /** Set once the connector called unregisterConnection: its streams in flight may still finish. */
  private unregistered = false;

  constructor(
    readonly socket: TLSSocket,
    opts: EdgeHttp2Options,
  ) {
    super();
    socket.setNoDelay(true);
    this.session = http2.connect(`https://${H2_SERVER_NAME}`, {
      createConnection: () => socket,
      settings: TUNNEL_SETTINGS,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      // The agent advertises an unlimited stream count; do not stall at the default of 100 before its
      // SETTINGS frame arrives.
      peerMaxConcurrentStreams: 10_000,
    });
    raiseConnectionWindow(this.session);
    this.session.on('error', () => {});
    this.session.on('close', () => this.destroy(null));
    this.stopKeepalive = startKeepalive(this.session, opts.keepalive ?? DEFAULT_KEEPALIVE, () =>
      this.destroy(
        new TunnelError('AGENT_UNRESPONSIVE', 'the connector stopped answering PINGs', { source: 'origin' }),
      ),
    );
    const control = this.session.request(
      { ':method': 'GET', ':path': '/', [PROXY_CONNECTION_UPGRADE]: 'control-stream' },
      { endStream: false },
    );
    const registration: RegistrationHandler = {
      registerConnection: (p) => opts.registration.registerConnection(p),
      updateLocalConfiguration: (c) => opts.registration.updateLocalConfiguration(c),
      unregisterConnection: async () => {
        this.unregistered = true;
        await opts.registration.unregisterConnection();
      },
    };
    this.rpc = new RpcConnection({
      peer: 'origin',
      bootstrap: registrationServer(registration),
      send: (frame) => {
        if (!control.destroyed) control.write(frame);
      },
      onClose: (err) => {
        if (!this.unregistered) this.destroy(err);
      },
    });
    control.on('data', (chunk: Buffer) => this.rpc.receive(chunk));
    control.on('error', () => {});
    control.on('close', () => {
      this.rpc.streamClosed();
      // After a clean unregister the connector closes the connection itself once its streams are done
      // (spec §8); before it, a lost control stream means a lost registration.
      if (!this.unregistered) this.destroy(null);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Opens a request stream; the caller relays the body and reads the response. */
  request(headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
    return this.session.request(headers, { endStream });
  }

  /** Pushes configuration over an update-configuration stream (spec §7). */
  pushConfiguration(version: number, config: unknown): Promise<{ lastAppliedVersion: number; err: unknown }> {
    return new Promise((resolve, reject) => {
      const stream = this.session.request(
        { ':method': 'PUT', ':path': '/config', [PROXY_CONNECTION_UPGRADE]: 'update-configuration' },
        { endStream: false },
      );
      const chunks: Buffer[] = [];
      let status = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== 200) {
          reject(
            new TunnelError('CONFIG_PUSH_FAILED', `configuration push answered ${status}`, {
              source: 'origin',
            }),
          );
          return;
        }
        try {
          resolve(
            JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              lastAppliedVersion: number;
              err: unknown;
            },
          );
        } catch (cause) {
          reject(
            new TunnelError('CONFIG_PUSH_FAILED', 'configuration push answer is not JSON', {
              source: 'origin',
              cause,
            }),
          );
        }
      });
      stream.end(JSON.stringify({ version, config }));
    });
  }

  close(): void {
    this.destroy(null);
  }

  private destroy(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.stopKeepalive();
    this.rpc.streamClosed(err);
    if (!this.session.destroyed) this.session.destroy();
    this.socket.destroy();
    this.emit('close', err);
  }
}
