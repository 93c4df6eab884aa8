import { EventEmitter } from 'node:events';
import { TunnelError } from '../errors.js';
import { cloudflaredServer } from '../registration.js';
import {
  MAX_CONFIGURATION_BYTES,
  drained,
  registerConnector,
  unregisterConnector,
} from '../connector-session.js';
import type { TunnelRequest } from '../responder.js';
import { RpcConnection, type RemoteCapability } from '../rpc/rpc-connection.js';
import { decodeConnectRequest } from '../schema/quic-metadata.js';
import type {
  ConnectionDetails,
  RegisterConnectionParams,
  UpdateConfigurationResponse,
} from '../schema/tunnelrpc.js';
import { readPreamble } from './preamble.js';
import type { QuicConnection } from './quic-connection.js';
import { dialQuic } from './quic-endpoint.js';
import { requestFromConnect } from './quic-request.js';
import type { QuicStream } from './quic-stream.js';

export interface AgentQuicOptions {
  host: string;
  port: number;
  ca?: Buffer | string;
  insecureSkipVerify?: boolean;
  /** the local address to send from (cloudflared's --edge-bind-address) */
  localAddress?: string;
  registration: RegisterConnectionParams;
  localConfiguration?: Buffer;
  onRequest(req: TunnelRequest): void;
  onConfiguration?(version: number, config: Buffer): Promise<UpdateConfigurationResponse>;
  registerTimeoutMs?: number;
  onStreamError?(err: Error): void;
}

/**
 * The agent's end of one QUIC tunnel connection (spec §4–6): the first client stream is the control
 * stream (no preamble) carrying registration; the edge opens a stream per request (DATA signature,
 * version, ConnectRequest) and RPC streams for configuration pushes (RPC signature). A malformed
 * stream is reset alone; the connection goes on.
 */
export class AgentQuicConnection extends EventEmitter<{ close: [Error | null] }> {
  readonly protocol = 'quic';
  details: ConnectionDetails | null = null;
  private rpc: RpcConnection | null = null;
  private cap: RemoteCapability | null = null;
  private control: QuicStream | null = null;
  private closed = false;
  private active = 0;
  private rpcStreams = 0;

  private constructor(
    private readonly conn: QuicConnection,
    private readonly opts: AgentQuicOptions,
  ) {
    super();
    conn.on('close', (info) => {
      this.destroy(
        info.timedOut
          ? new TunnelError('QUIC_IDLE_TIMEOUT', 'the edge stopped answering (QUIC idle timeout)', {
              source: 'edge',
            })
          : new TunnelError(
              'QUIC_CLOSED',
              `the QUIC connection closed${info.reason ? `: ${info.reason}` : ''}`,
              { source: info.local ? 'internal' : 'edge' },
            ),
      );
    });
    conn.on('stream', (s) => this.onStream(s));
  }

  static async connect(opts: AgentQuicOptions): Promise<AgentQuicConnection> {
    const conn = await dialQuic({
      host: opts.host,
      port: opts.port,
      ca: opts.ca,
      insecureSkipVerify: opts.insecureSkipVerify,
      localAddress: opts.localAddress,
    });
    const agent = new AgentQuicConnection(conn, opts);
    try {
      await agent.register();
    } catch (err) {
      agent.close();
      throw err;
    }
    return agent;
  }

  get inflight(): number {
    return this.active;
  }

  private async register(): Promise<void> {
    const control = this.conn.openStream();
    this.control = control;
    const rpc = new RpcConnection({
      peer: 'edge',
      send: (frame) => {
        if (!control.destroyed) control.write(frame);
      },
      onClose: () => {
        if (!control.destroyed) control.end();
      },
    });
    this.rpc = rpc;
    control.on('data', (chunk: Buffer) => rpc.receive(chunk));
    control.on('error', () => {});
    control.on('close', () => {
      rpc.streamClosed();
      if (this.details !== null)
        this.destroy(
          new TunnelError('CONTROL_STREAM_CLOSED', 'the control stream closed', { source: 'edge' }),
        );
    });
    this.cap = rpc.bootstrap();
    this.details = await registerConnector(
      rpc,
      this.cap,
      this.opts.registration,
      this.opts.localConfiguration,
      this.opts.registerTimeoutMs ?? 15_000,
    );
  }

  private onStream(stream: QuicStream): void {
    stream.on('error', () => {});
    if (this.closed) {
      stream.reset(0);
      return;
    }
    readPreamble(stream, 'edge').then(
      (p) => {
        if (p.kind === 'rpc') {
          this.serveRpc(stream);
          return;
        }
        let req;
        try {
          req = requestFromConnect(stream, decodeConnectRequest(p.message));
        } catch (err) {
          this.opts.onStreamError?.(err as Error);
          stream.reset(0);
          return;
        }
        this.active++;
        stream.once('close', () => this.active--);
        try {
          this.opts.onRequest(req);
        } catch (err) {
          // A handler that throws costs this stream only.
          this.opts.onStreamError?.(err as Error);
          stream.reset(0);
        }
      },
      (err: Error) => {
        // A bad signature, a truncated or malformed ConnectRequest: this stream only.
        this.opts.onStreamError?.(err);
        stream.reset(0);
      },
    );
  }

  /**
   * An RPC stream carries the edge's configuration push (spec §6). It is served only on a registered
   * connection, one at a time, and its messages are bounded like the HTTP/2 push body.
   */
  private serveRpc(stream: QuicStream): void {
    if (this.details === null || this.rpcStreams > 0) {
      this.opts.onStreamError?.(
        new TunnelError(
          'EDGE_PROTOCOL',
          `stream refused: ${this.details === null ? 'an RPC stream before registration' : 'a second RPC stream at once'}`,
          { source: 'edge' },
        ),
      );
      stream.reset(0);
      return;
    }
    this.rpcStreams++;
    stream.once('close', () => this.rpcStreams--);
    const handler =
      this.opts.onConfiguration ?? (async (version: number) => ({ latestAppliedVersion: version, err: '' }));
    const rpc = new RpcConnection({
      peer: 'edge',
      bootstrap: cloudflaredServer({ updateConfiguration: handler }),
      maxMessageBytes: MAX_CONFIGURATION_BYTES + 4096,
      send: (frame) => {
        if (!stream.destroyed) stream.write(frame);
      },
      onClose: () => {
        if (!stream.destroyed) stream.end();
      },
    });
    stream.on('data', (chunk: Buffer) => rpc.receive(chunk));
    stream.on('end', () => {
      rpc.streamClosed();
      if (!stream.writableEnded) stream.end();
    });
    stream.resume();
  }

  /** Graceful step one: the edge stops sending new streams here; those in flight go on. */
  async unregister(timeoutMs: number): Promise<void> {
    if (this.rpc === null || this.cap === null) return;
    this.details = null;
    await unregisterConnector(this.rpc, this.cap, timeoutMs);
  }

  drained(timeoutMs: number): Promise<void> {
    return drained(
      () => this.active,
      () => this.closed,
      timeoutMs,
    );
  }

  close(): void {
    if (!this.conn.isClosed) this.conn.close(0, '');
    this.destroy(null);
  }

  private destroy(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.details = null;
    this.rpc?.streamClosed(err);
    if (!this.conn.isClosed) this.conn.close(0, '');
    this.emit('close', err);
  }
}
