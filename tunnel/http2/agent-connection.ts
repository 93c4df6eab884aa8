import { EventEmitter } from 'node:events';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import tls from 'node:tls';
import { TunnelError } from '../errors.js';
import { PROXY_CONNECTION_UPGRADE, PROXY_SRC, META_CLOUDFLARED, RESPONSE_META } from '../header-packing.js';
import type { TunnelRequest } from '../responder.js';
import { http2Responder } from './responder.js';
import {
  MAX_CONFIGURATION_BYTES,
  drained,
  registerConnector,
  unregisterConnector,
} from '../connector-session.js';
import { RpcConnection, type RemoteCapability } from '../rpc/rpc-connection.js';
import type {
  ConnectionDetails,
  RegisterConnectionParams,
  UpdateConfigurationResponse,
} from '../schema/tunnelrpc.js';
import {
  DEFAULT_KEEPALIVE,
  MAX_SESSION_MEMORY_MB,
  TUNNEL_SETTINGS,
  raiseConnectionWindow,
  startKeepalive,
  type KeepaliveOptions,
} from './settings.js';

export const H2_SERVER_NAME = 'h2.cftunnel.com';

const ignore = (): void => {};

/**
 * OpenSSL's verification failures as Node reports them (X509_V_ERR_* without the prefix) and the host
 * name check: the edge was reached, and its certificate is the problem.
 */
function isCertificateError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY|DECRYPT)|CHAIN_TOO_LONG|PATH_LENGTH|INVALID_CA|INVALID_PURPOSE/.test(
      code,
    )
  );
}

export interface AgentHttp2Options {
  host: string;
  port: number;
  /** PEM CA bundle to trust instead of the system roots (edge-sim's ca.pem). */
  ca?: Buffer | string;
  /** Skips certificate verification; only for an operator who asked for it explicitly. */
  insecureSkipVerify?: boolean;
  /** the local address to connect from (cloudflared's --edge-bind-address) */
  localAddress?: string;
  registration: RegisterConnectionParams;
  /** Sent with updateLocalConfiguration after registration (cloudflared does so on index 0). */
  localConfiguration?: Buffer;
  onRequest(req: TunnelRequest): void;
  onConfiguration?(version: number, config: Buffer): Promise<UpdateConfigurationResponse>;
  keepalive?: KeepaliveOptions;
  dialTimeoutMs?: number;
  registerTimeoutMs?: number;
  /** A stream refused for breaking the protocol (a second control stream, an oversized push). */
  onStreamError?(err: Error): void;
}

export { RegistrationError } from '../connector-session.js';

/**
 * The agent's end of one HTTP/2 tunnel connection (spec §7): it dials TCP+TLS to the edge and then acts
 * as the HTTP/2 *server* on that socket, because the edge opens every stream.
 */
export class AgentHttp2Connection extends EventEmitter<{ close: [Error | null] }> {
  readonly protocol = 'http2';
  details: ConnectionDetails | null = null;
  private socket: tls.TLSSocket | null = null;
  private session: http2.ServerHttp2Session | null = null;
  private control: ServerHttp2Stream | null = null;
  private rpc: RpcConnection | null = null;
  private cap: RemoteCapability | null = null;
  private stopKeepalive: () => void = () => {};
  private closed = false;
  private activeStreams = 0;
  /** The edge's first stream must be the control stream, and no other stream may be one. */
  private sawFirstStream = false;
  /** One configuration push at a time. */
  private configuring = false;

  private constructor(private readonly opts: AgentHttp2Options) {
    super();
  }

  /** Dials, registers and resolves once the edge accepted the connection. */
  static async connect(opts: AgentHttp2Options): Promise<AgentHttp2Connection> {
    const conn = new AgentHttp2Connection(opts);
    try {
      await conn.start();
    } catch (err) {
      conn.destroy(err as Error);
      throw err;
    }
    return conn;
  }

  get inflight(): number {
    return this.activeStreams;
  }

  private dial(): Promise<tls.TLSSocket> {
    const { host, port, ca, insecureSkipVerify, localAddress } = this.opts;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        // net.connect's option, which tls.connect passes on (its typings leave it out)
        ...({ localAddress } as tls.ConnectionOptions),
        servername: H2_SERVER_NAME,
        ca,
        rejectUnauthorized: insecureSkipVerify !== true,
        minVersion: 'TLSv1.2',
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new TunnelError('EDGE_DIAL_TIMEOUT', `TLS dial to ${host}:${port} timed out`, { source: 'edge' }),
        );
      }, this.opts.dialTimeoutMs ?? 15_000);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (cause: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          isCertificateError(cause)
            ? new TunnelError(
                'EDGE_CERTIFICATE',
                `the edge's certificate at ${host}:${port} did not verify against the trusted CAs (the CA file given, or the system roots): ${cause.message}`,
                { source: 'edge', cause },
              )
            : new TunnelError(
                'EDGE_DIAL_FAILED',
                `cannot reach the edge at ${host}:${port}: ${cause.message}`,
                {
                  source: 'edge',
                  cause,
                },
              ),
        );
      });
    });
  }

  private async start(): Promise<void> {
    const socket = await this.dial();
    this.socket = socket;
    socket.setNoDelay(true);
    const server = http2.createServer({ settings: TUNNEL_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB });
    const registered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new TunnelError('REGISTRATION_TIMEOUT', 'the edge did not complete registration in time', {
              source: 'edge',
            }),
          ),
        this.opts.registerTimeoutMs ?? 15_000,
      );
      server.on('session', (session) => {
        this.session = session;
        raiseConnectionWindow(session);
        session.on('error', () => {});
        session.on('close', () => this.destroy(null));
        this.stopKeepalive = startKeepalive(session, this.opts.keepalive ?? DEFAULT_KEEPALIVE, () =>
          this.destroy(
            new TunnelError('EDGE_UNRESPONSIVE', 'the edge stopped answering PINGs', { source: 'edge' }),
          ),
        );
      });
      server.on('stream', (stream, headers) => {
        // Every stream gets an error path before anything else can fail on it.
        stream.on('error', ignore);
        const upgrade = headers[PROXY_CONNECTION_UPGRADE];
        if (!this.sawFirstStream) {
          this.sawFirstStream = true;
          if (upgrade !== 'control-stream') {
            this.refuse(stream, http2.constants.NGHTTP2_PROTOCOL_ERROR);
            clearTimeout(timer);
            reject(
              new TunnelError('EDGE_PROTOCOL', "the edge's first stream was not the control stream", {
                source: 'edge',
              }),
            );
            return;
          }
          this.serveControl(stream).then(
            () => {
              clearTimeout(timer);
              resolve();
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err as Error);
            },
          );
          return;
        }
        this.serveStream(stream, headers, upgrade);
      });
      this.once('close', (err) => {
        clearTimeout(timer);
        reject(
          err ??
            new TunnelError('EDGE_CLOSED', 'the edge closed the connection during registration', {
              source: 'edge',
            }),
        );
      });
    });
    // A plain (non-TLS) http2 server takes any duplex, but treats a TLS socket without ALPN as HTTP/1.1.
    // cloudflared offers no ALPN on this transport, so the socket is marked as h2 by hand.
    Object.defineProperty(socket, 'alpnProtocol', { value: 'h2', configurable: true, writable: true });
    server.emit('connection', socket);
    await registered;
  }

  private async serveControl(stream: ServerHttp2Stream): Promise<void> {
    stream.respond({ ':status': 200 });
    const rpc = new RpcConnection({
      peer: 'edge',
      send: (frame) => {
        if (!stream.destroyed) stream.write(frame);
      },
      onClose: () => {
        if (!stream.destroyed) stream.end();
      },
    });
    this.rpc = rpc;
    this.control = stream;
    stream.on('data', (chunk: Buffer) => rpc.receive(chunk));
    stream.on('close', () => {
      rpc.streamClosed();
      // Without its control stream the connection is no longer registered.
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
    );
  }

  private serveStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    upgrade: string | string[] | undefined,
  ): void {
    if (this.closed) {
      this.refuse(stream, http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    if (upgrade === 'control-stream') {
      // Registration happens once, on the first stream. Another control stream would hand whoever
      // opened it the registration (the tunnel's credentials) and close the connection with it.
      this.refuse(stream, http2.constants.NGHTTP2_PROTOCOL_ERROR, 'a second control stream');
      return;
    }
    if (upgrade === 'update-configuration') {
      this.serveConfiguration(stream);
      return;
    }
    this.activeStreams++;
    stream.once('close', this.onStreamClose);
    const src = headers[PROXY_SRC];
    const kind: TunnelRequest['kind'] =
      upgrade === 'websocket' ? 'websocket' : typeof src === 'string' && src !== '' ? 'tcp' : 'http';
    try {
      this.opts.onRequest({
        stream,
        headers,
        hasBody: !stream.endAfterHeaders,
        kind,
        trailers: true,
        responder: http2Responder,
      });
    } catch (err) {
      // A handler that throws costs this stream only.
      this.opts.onStreamError?.(err as Error);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  /** Resets one stream; `why`, when given, is reported as the edge breaking the protocol. */
  private refuse(stream: ServerHttp2Stream, code: number, why?: string): void {
    if (why !== undefined)
      this.opts.onStreamError?.(
        new TunnelError('EDGE_PROTOCOL', `stream refused: ${why}`, { source: 'edge' }),
      );
    if (!stream.destroyed) stream.close(code);
  }

  private readonly onStreamClose = (): void => {
    this.activeStreams--;
  };

  private serveConfiguration(stream: ServerHttp2Stream): void {
    if (this.details === null || this.configuring) {
      this.refuse(
        stream,
        http2.constants.NGHTTP2_REFUSED_STREAM,
        this.details === null ? 'configuration before registration' : 'a second configuration push at once',
      );
      return;
    }
    this.configuring = true;
    stream.once('close', () => {
      this.configuring = false;
    });
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      const before = size;
      size += c.length;
      if (size <= MAX_CONFIGURATION_BYTES) chunks.push(c);
      else if (before <= MAX_CONFIGURATION_BYTES) {
        chunks.length = 0;
        this.refuse(
          stream,
          http2.constants.NGHTTP2_REFUSED_STREAM,
          `a configuration push over ${MAX_CONFIGURATION_BYTES} bytes`,
        );
      }
    });
    stream.on('end', () => {
      if (size > MAX_CONFIGURATION_BYTES) return;
      let body: { version?: unknown; config?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        stream.respond({ ':status': 502, [RESPONSE_META]: META_CLOUDFLARED });
        stream.end();
        return;
      }
      const version = typeof body.version === 'number' ? body.version : 0;
      const config = Buffer.from(JSON.stringify(body.config ?? {}));
      const handler = this.opts.onConfiguration ?? (async () => ({ latestAppliedVersion: version, err: '' }));
      handler(version, config).then(
        (res) => {
          if (stream.destroyed) return;
          stream.respond({ ':status': 200, 'content-type': 'application/json' });
          stream.end(
            JSON.stringify({
              lastAppliedVersion: res.latestAppliedVersion,
              err: res.err ? { message: res.err } : null,
            }),
          );
        },
        () => {
          if (stream.destroyed) return;
          stream.respond({ ':status': 502, [RESPONSE_META]: META_CLOUDFLARED });
          stream.end();
        },
      );
    });
  }

  /**
   * Graceful step one: tell the edge to stop sending new streams here. Streams in flight continue;
   * the caller closes the connection once they are done or its grace period ends.
   */
  async unregister(timeoutMs: number): Promise<void> {
    if (this.rpc === null || this.cap === null) return;
    this.details = null;
    await unregisterConnector(this.rpc, this.cap, timeoutMs);
  }

  /** Resolves when no request stream is in flight, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    return drained(
      () => this.activeStreams,
      () => this.closed,
      timeoutMs,
    );
  }

  close(): void {
    this.destroy(null);
  }

  private destroy(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.stopKeepalive();
    this.rpc?.streamClosed(err);
    const session = this.session;
    if (session !== null && !session.destroyed) {
      if (err === null) session.close();
      setTimeout(() => session.destroy(), err === null ? 1000 : 0).unref();
    } else {
      this.socket?.destroy();
    }
    this.emit('close', err);
  }
}
