import http2, { type ClientHttp2Stream } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type Pki } from '../../common/pki.js';
import { MAX_CONFIGURATION_BYTES } from '../../tunnel/connector-session.js';
import { AgentHttp2Connection, H2_SERVER_NAME } from '../../tunnel/http2/agent-connection.js';
import { EdgeHttp2Connection } from '../../tunnel/http2/edge-connection.js';
import { AgentQuicConnection } from '../../tunnel/quic/agent-quic-connection.js';
import { EdgeQuicConnection } from '../../tunnel/quic/edge-quic-connection.js';
import { QuicListener } from '../../tunnel/quic/quic-endpoint.js';
import type { TunnelRequest } from '../../tunnel/responder.js';
import { acceptingEdge, registration } from '../helpers/tunnel-fixtures.js';

/**
 * The agent keeps the tunnel's own streams apart from visitors' whatever the edge sends: registration
 * happens once, on the first stream; a configuration push is bounded and served one at a time on a
 * registered connection. Before this, a second control stream re-ran registration and handed its
 * opener the tunnel's credentials (and a visitor could open one through edge-sim).
 */
const serve = (req: TunnelRequest): void => {
  req.responder.respond(req.stream, 200, ['Content-Type', 'text/plain'], '2');
  req.stream.end('ok');
};

/** Status and body of a stream, or its reset code when it was refused. */
function outcome(stream: ClientHttp2Stream): Promise<{ status: number; body: Buffer; rst: number }> {
  return new Promise((resolve) => {
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => resolve({ status, body: Buffer.concat(chunks), rst: stream.rstCode ?? 0 }));
  });
}

describe('HTTP/2: control and configuration streams', () => {
  let pki: Pki;
  let server: tls.Server;
  let port: number;
  const edges: EdgeHttp2Connection[] = [];

  beforeAll(async () => {
    pki = await createPki();
    server = tls.createServer({ key: pki.keyPem, cert: pki.certPem }, (socket) => {
      edges.push(new EdgeHttp2Connection(socket, { registration: acceptingEdge('CONF') }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server?.close());

  async function connect(
    errors: Error[],
  ): Promise<{ agent: AgentHttp2Connection; edge: EdgeHttp2Connection }> {
    const agent = await AgentHttp2Connection.connect({
      host: '127.0.0.1',
      port,
      ca: pki.caPem,
      registration,
      onRequest: serve,
      onStreamError: (e) => errors.push(e),
    });
    return { agent, edge: edges.at(-1) as EdgeHttp2Connection };
  }

  it('refuses a second control stream without a byte of registration, and keeps the connection', async () => {
    const errors: Error[] = [];
    const { agent, edge } = await connect(errors);
    let closed = false;
    agent.once('close', () => (closed = true));
    const second = await outcome(
      edge.session.request(
        { ':method': 'GET', ':path': '/', 'cf-cloudflared-proxy-connection-upgrade': 'control-stream' },
        { endStream: false },
      ),
    );
    expect(second.rst).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    expect(second.body.length).toBe(0);
    expect(errors.map((e) => e.message)).toContain('stream refused: a second control stream');
    const next = await outcome(
      edge.request({ ':method': 'GET', ':path': '/after', ':authority': 'a.test' }, true),
    );
    expect(next.status).toBe(200);
    expect(closed).toBe(false);
    expect(edge.isClosed).toBe(false);
    agent.close();
  });

  it('bounds a configuration push, serves one at a time, and still answers a sound one', async () => {
    const errors: Error[] = [];
    const { agent, edge } = await connect(errors);
    const pushHeaders = {
      ':method': 'PUT',
      ':path': '/config',
      'cf-cloudflared-proxy-connection-upgrade': 'update-configuration',
    };
    const big = edge.session.request(pushHeaders, { endStream: false });
    const bigDone = outcome(big);
    // A second push while the first is still open is refused at once.
    const second = await outcome(edge.session.request(pushHeaders, { endStream: true }));
    expect(second.rst).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
    big.end(Buffer.alloc(MAX_CONFIGURATION_BYTES + 1, 0x20));
    expect((await bigDone).rst).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
    expect(errors.map((e) => e.message)).toEqual([
      'stream refused: a second configuration push at once',
      `stream refused: a configuration push over ${MAX_CONFIGURATION_BYTES} bytes`,
    ]);
    const res = await edge.pushConfiguration(7, { ingress: [] });
    expect(res.lastAppliedVersion).toBe(7);
    expect(edge.isClosed).toBe(false);
    agent.close();
  });

  it('fails registration when the first stream is not the control stream', async () => {
    // An edge that opens a request stream first.
    const rogue = tls.createServer({ key: pki.keyPem, cert: pki.certPem }, (socket) => {
      const session = http2.connect(`https://${H2_SERVER_NAME}`, { createConnection: () => socket });
      session.on('error', () => {});
      const s = session.request({ ':method': 'GET', ':path': '/' });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', r));
    try {
      await expect(
        AgentHttp2Connection.connect({
          host: '127.0.0.1',
          port: (rogue.address() as net.AddressInfo).port,
          ca: pki.caPem,
          registration,
          onRequest: serve,
        }),
      ).rejects.toMatchObject({ code: 'EDGE_PROTOCOL' });
    } finally {
      rogue.close();
    }
  });
});

describe('QUIC: configuration streams', () => {
  let pki: Pki;
  let listener: QuicListener;
  let port: number;
  const edges: EdgeQuicConnection[] = [];

  beforeAll(async () => {
    pki = await createPki();
    listener = new QuicListener({ host: '127.0.0.1', port: 0, certPem: pki.certPem, keyPem: pki.keyPem });
    port = (await listener.listen()).port;
    listener.on('connection', (c) => edges.push(new EdgeQuicConnection(c, acceptingEdge('CONF'))));
  });
  afterAll(async () => listener?.close());

  it('refuses an oversized push and a concurrent one, then answers a sound one', async () => {
    const errors: Error[] = [];
    const agent = await AgentQuicConnection.connect({
      host: '127.0.0.1',
      port,
      ca: pki.caPem,
      registration,
      onRequest: serve,
      onStreamError: (e) => errors.push(e),
    });
    const edge = edges.at(-1) as EdgeQuicConnection;
    const [oversized, concurrent] = await Promise.allSettled([
      edge.pushConfiguration(1, { blob: 'x'.repeat(2 * MAX_CONFIGURATION_BYTES) }),
      edge.pushConfiguration(2, { ingress: [] }),
    ]);
    expect(oversized.status).toBe('rejected');
    expect(concurrent.status).toBe('rejected');
    expect(errors.map((e) => e.message)).toContain('stream refused: a second RPC stream at once');
    const res = await edge.pushConfiguration(3, { ingress: [] });
    expect(res.latestAppliedVersion).toBe(3);
    expect(edge.isClosed).toBe(false);
    agent.close();
  });
});
