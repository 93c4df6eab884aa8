import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptingEdge, registration } from '../helpers/tunnel-fixtures.js';
import { createPki, type Pki } from '../../common/pki.js';
import { AgentQuicConnection } from '../../tunnel/quic/agent-quic-connection.js';
import { EdgeQuicConnection } from '../../tunnel/quic/edge-quic-connection.js';
import { DATA_SIGNATURE, DATA_VERSION, connectRequestPreamble } from '../../tunnel/quic/preamble.js';
import type { QuicConnection } from '../../tunnel/quic/quic-connection.js';
import { QuicListener, dialQuic } from '../../tunnel/quic/quic-endpoint.js';
import type { QuicStream } from '../../tunnel/quic/quic-stream.js';
import { ConnectionType } from '../../tunnel/schema/quic-metadata.js';

/** Malformed peers on the QUIC transport cost one stream or one connection, never the process. */
describe('QUIC bad peers', () => {
  let pki: Pki;
  let listener: QuicListener;
  let port: number;
  const edges: EdgeQuicConnection[] = [];
  const accept = acceptingEdge('BAD');

  beforeAll(async () => {
    pki = await createPki();
    listener = new QuicListener({ host: '127.0.0.1', port: 0, certPem: pki.certPem, keyPem: pki.keyPem });
    port = (await listener.listen()).port;
    listener.on('connection', (c) => edges.push(new EdgeQuicConnection(c, accept)));
  });
  afterAll(async () => listener?.close());

  const streamClosed = (s: QuicStream) =>
    new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

  it('resets a stream with a bogus signature or a truncated ConnectRequest, and serves the next one', async () => {
    const errors: Error[] = [];
    const served: string[] = [];
    const agent = await AgentQuicConnection.connect({
      host: '127.0.0.1',
      port,
      ca: pki.caPem,
      registration,
      onRequest: (req) => {
        served.push(String(req.headers[':path']));
        req.responder.respond(req.stream, 200, ['Content-Type', 'text/plain'], '2');
        req.stream.end('ok');
      },
      onStreamError: (e) => errors.push(e),
    });
    const edge = edges.at(-1) as EdgeQuicConnection;
    const conn: QuicConnection = edge.conn;

    const bogus = conn.openStream();
    bogus.on('error', () => {});
    bogus.write(Buffer.from('not a signature at all'));
    bogus.resume();
    await streamClosed(bogus);

    const truncated = conn.openStream();
    truncated.on('error', () => {});
    const full = connectRequestPreamble({
      dest: 'http://x/y',
      type: ConnectionType.Http,
      metadata: [{ key: 'HttpMethod', val: 'GET' }],
    });
    truncated.end(full.subarray(0, full.length - 5));
    truncated.resume();
    await streamClosed(truncated);

    const garbageFrame = conn.openStream();
    garbageFrame.on('error', () => {});
    garbageFrame.end(Buffer.concat([DATA_SIGNATURE, DATA_VERSION, Buffer.from('00000000ffffff7f', 'hex')]));
    garbageFrame.resume();
    await streamClosed(garbageFrame);

    expect(errors.map((e) => (e as { code?: string }).code).sort()).toEqual([
      'FRAME_INVALID',
      'QUIC_BAD_SIGNATURE',
      'QUIC_TRUNCATED_PREAMBLE',
    ]);
    // The connection is fine: a proper request is served on it.
    const ok = edge.request(
      { ':method': 'GET', ':authority': 'h.test', ':path': '/fine', ':scheme': 'http' },
      true,
    );
    const response = await new Promise<Record<string, unknown>>((r) => ok.once('response', r));
    expect(response[':status']).toBe(200);
    expect(served).toEqual(['/fine']);
    expect(agent.details?.locationName).toBe('BAD');
    agent.close();
  });

  it('answers a configuration push on an RPC stream opened by the edge', async () => {
    const seen: Array<[number, string]> = [];
    const agent = await AgentQuicConnection.connect({
      host: '127.0.0.1',
      port,
      ca: pki.caPem,
      registration,
      onRequest: () => {},
      onConfiguration: async (version, config) => {
        seen.push([version, config.toString()]);
        return { latestAppliedVersion: version, err: '' };
      },
    });
    const edge = edges.at(-1) as EdgeQuicConnection;
    const res = await edge.pushConfiguration(3, { ingress: [{ service: 'http_status:404' }] });
    expect(res).toEqual({ latestAppliedVersion: 3, err: '' });
    expect(seen).toEqual([[3, '{"ingress":[{"service":"http_status:404"}]}']]);
    agent.close();
  });

  it('closes only the connection whose control stream carries garbage', async () => {
    const before = edges.length;
    const conn = await dialQuic({ host: '127.0.0.1', port, ca: pki.caPem });
    const closed = new Promise((r) => conn.once('close', r));
    const control = conn.openStream();
    control.on('error', () => {});
    control.write(Buffer.from('00000000010000007c00000001000100', 'hex'));
    await closed;
    expect(edges.length).toBe(before + 1);
    expect((edges.at(-1) as EdgeQuicConnection).isClosed).toBe(true);
  });

  it('refuses a client that does not offer ALPN argotunnel', async () => {
    await expect(
      dialQuic({ host: '127.0.0.1', port, ca: pki.caPem, alpn: 'h3', handshakeTimeoutMs: 2000 }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^QUIC_HANDSHAKE/),
    });
  });
});
