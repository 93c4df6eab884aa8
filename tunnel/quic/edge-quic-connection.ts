import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http2';
import { TunnelError } from '../errors.js';
import {
  META_CLOUDFLARED,
  META_ORIGIN,
  PROXY_CONNECTION_UPGRADE,
  RESPONSE_HEADERS,
  RESPONSE_META,
  canonicalHeaderName,
  packHeaders,
} from '../header-packing.js';
import { callUpdateConfiguration, registrationServer, type RegistrationHandler } from '../registration.js';
import { RpcConnection } from '../rpc/rpc-connection.js';
import { ConnectionType, type Metadata } from '../schema/quic-metadata.js';
import type { UpdateConfigurationResponse } from '../schema/tunnelrpc.js';
import { RPC_SIGNATURE, connectRequestPreamble, readConnectResponse } from './preamble.js';
import type { QuicConnection } from './quic-connection.js';
import { isStreamingType } from './quic-request.js';
import type { QuicStream } from './quic-stream.js';
import { RESPONSE_BODY, TRAILERS_KEY, TRAILERS_V1, TrailersDeframer } from './trailers-framing.js';

const SILENT_MS = 2000;

/**
 * The edge's end of one QUIC tunnel connection: it serves registration on the connector's first stream
 * and opens one stream per visitor request, sending a ConnectRequest (an absolute URL, HttpMethod,
 * HttpHost, HttpHeader:Name per value) and reading the ConnectResponse back. To the visitor-facing
 * relay the stream then looks like an HTTP/2 client stream: a 'response' event with ':status' and the
 * headers packed as on HTTP/2, then the body.
 */
export class EdgeQuicConnection extends EventEmitter<{ close: [Error | null] }> {
  readonly protocol = 'quic';
  private rpc: RpcConnection | null = null;
  private closed = false;
  private unregistered = false;
  /**
   * Offer the trailers extension on requests whose visitor takes trailers: set by the edge once the
   * connector registered with TRAILERS_FEATURE.
   */
  offerTrailers = false;

  constructor(
    readonly conn: QuicConnection,
    private readonly registration: RegistrationHandler,
  ) {
    super();
    conn.on('stream', (s) => this.onStream(s));
    conn.on('close', (info) => {
      this.finish(
        info.timedOut
          ? new TunnelError('AGENT_UNRESPONSIVE', 'the connector stopped answering (QUIC idle timeout)', {
              source: 'origin',
            })
          : null,
      );
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * No packet for over two keepalive periods: the connector is probably gone (a killed process sends no
   * CONNECTION_CLOSE). New requests should go elsewhere while the idle timeout runs out.
   */
  get isSilent(): boolean {
    return Date.now() - this.conn.lastReceived > SILENT_MS;
  }

  private onStream(s: QuicStream): void {
    s.on('error', () => {});
    if (this.rpc !== null || s.id !== 0) {
      // The connector opens only its control stream (and RPC streams for UDP, which are not served).
      s.reset(0);
      return;
    }
    const handler: RegistrationHandler = {
      registerConnection: (p) => this.registration.registerConnection(p),
      updateLocalConfiguration: (c) => this.registration.updateLocalConfiguration(c),
      unregisterConnection: async () => {
        this.unregistered = true;
        await this.registration.unregisterConnection();
      },
    };
    const rpc = new RpcConnection({
      peer: 'origin',
      bootstrap: registrationServer(handler),
      send: (frame) => {
        if (!s.destroyed) s.write(frame);
      },
      onClose: (err) => {
        if (!this.unregistered) this.finish(err);
      },
    });
    this.rpc = rpc;
    s.on('data', (chunk: Buffer) => rpc.receive(chunk));
    s.on('close', () => {
      rpc.streamClosed();
      if (!this.unregistered) this.finish(null);
    });
  }

  /** Opens a request stream; resolves the response as an HTTP/2-style 'response' event on it. */
  request(headers: OutgoingHttpHeaders, endStream: boolean): QuicStream {
    const stream = this.conn.openStream();
    const ct = headers['content-type'];
    // An upload is only useful whole; websockets and gRPC calls are read as they come (QuicStream).
    stream.bulk =
      headers[PROXY_CONNECTION_UPGRADE] !== 'websocket' &&
      headers.te !== 'trailers' &&
      !(typeof ct === 'string' && isStreamingType(ct));
    const metadata: Metadata[] = [
      { key: 'HttpMethod', val: String(headers[':method'] ?? 'GET') },
      { key: 'HttpHost', val: String(headers[':authority'] ?? '') },
    ];
    // The HTTP/2 way of saying websocket becomes the QUIC way: the stream's ConnectionType.
    const websocket = headers[PROXY_CONNECTION_UPGRADE] === 'websocket';
    for (const name in headers) {
      if (name.startsWith(':') || name === PROXY_CONNECTION_UPGRADE) continue;
      const v = headers[name];
      if (v === undefined) continue;
      const key = 'HttpHeader:' + canonicalHeaderName(name);
      if (Array.isArray(v)) for (const x of v) metadata.push({ key, val: String(x) });
      else metadata.push({ key, val: String(v) });
    }
    // cloudflared reads a QUIC request body only when Content-Length or chunked Transfer-Encoding says
    // there is one; a body of unknown length is announced as chunked.
    if (!websocket && !endStream && headers['content-length'] === undefined)
      metadata.push({ key: 'HttpHeader:Transfer-Encoding', val: 'chunked' });
    if (this.offerTrailers && !websocket && headers.te === 'trailers')
      metadata.push({ key: TRAILERS_KEY, val: TRAILERS_V1 });
    const dest = `${String(headers[':scheme'] ?? 'http')}://${String(headers[':authority'] ?? '')}${String(headers[':path'] ?? '/')}`;
    stream.write(
      connectRequestPreamble({
        dest,
        type: websocket ? ConnectionType.Websocket : ConnectionType.Http,
        metadata,
      }),
    );
    // The ConnectRequest goes whole: the connector can start before the first body byte.
    if (endStream) stream.end();
    else stream.releaseHeld();
    readConnectResponse(stream).then(
      (res) => {
        if (res.error !== '') {
          stream.emit('response', { ':status': 502, [RESPONSE_META]: META_CLOUDFLARED });
          stream.resume();
          return;
        }
        let status = 502;
        let framed = false;
        const pairs: Array<[string, string]> = [];
        for (const m of res.metadata) {
          if (m.key === 'HttpStatus') status = Number(m.val);
          else if (m.key.startsWith('HttpHeader:')) pairs.push([m.key.slice('HttpHeader:'.length), m.val]);
          else if (m.key === TRAILERS_KEY && m.val === TRAILERS_V1) framed = true;
        }
        if (framed) {
          // The body arrives framed: the relay reads it through the deframer, which raises 'trailers'
          // on the stream as an HTTP/2 client stream would.
          const body = new TrailersDeframer();
          body.on('trailers', (t) => stream.emit('trailers', t));
          body.on('error', () => {
            if (!stream.destroyed) stream.reset(0);
          });
          (stream as QuicStream & { [RESPONSE_BODY]?: TrailersDeframer })[RESPONSE_BODY] = body;
          stream.pipe(body);
        }
        stream.emit('response', {
          ':status': status,
          [RESPONSE_HEADERS]: packHeaders(pairs.flat()),
          [RESPONSE_META]: META_ORIGIN,
        });
        stream.resume();
      },
      () => {
        // A malformed or missing answer fails this stream only.
        if (!stream.destroyed) stream.reset(0);
      },
    );
    return stream;
  }

  /**
   * Pushes configuration the QUIC way (spec §5): a stream opened by the edge with the RPC signature,
   * Bootstrap, then updateConfiguration on the connector's CloudflaredServer.
   */
  async pushConfiguration(version: number, config: unknown): Promise<UpdateConfigurationResponse> {
    const stream = this.conn.openStream();
    stream.on('error', () => {});
    stream.write(RPC_SIGNATURE);
    const rpc = new RpcConnection({
      peer: 'origin',
      send: (frame) => {
        if (!stream.destroyed) stream.write(frame);
      },
    });
    stream.on('data', (chunk: Buffer) => rpc.receive(chunk));
    stream.on('close', () => rpc.streamClosed());
    try {
      return await callUpdateConfiguration(
        rpc,
        rpc.bootstrap(),
        version,
        Buffer.from(JSON.stringify(config)),
      );
    } finally {
      rpc.abort('rpc: done');
      stream.end();
    }
  }

  close(): void {
    if (!this.conn.isClosed) this.conn.close(0, 'closed by the edge');
    this.finish(null);
  }

  private finish(err: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.rpc?.streamClosed(err);
    if (!this.conn.isClosed) this.conn.close(0, '');
    this.emit('close', err);
  }
}
