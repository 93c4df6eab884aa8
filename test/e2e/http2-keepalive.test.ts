import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptingEdge, registration } from '../helpers/tunnel-fixtures.js';
import { createPki, type EdgePki } from '../../common/pki.js';
import { AgentHttp2Connection } from '../../tunnel/http2/agent-connection.js';
import { EdgeHttp2Connection } from '../../tunnel/http2/edge-connection.js';

/**
 * A silent network (packets stop, nothing closes) between agent and edge: both ends must notice by
 * PING within a few seconds, with the default keepalive settings.
 */

describe('HTTP/2 tunnel keepalive', () => {
  let pki: EdgePki;
  let edgeServer: tls.Server;
  let proxy: net.Server;
  let blackhole = false;
  const edgeConns: EdgeHttp2Connection[] = [];

  const accept = acceptingEdge('KA');

  beforeAll(async () => {
    pki = await createPki();
    edgeServer = tls.createServer({ key: pki.keyPem, cert: pki.certPem }, (socket) => {
      edgeConns.push(new EdgeHttp2Connection(socket, { registration: accept }));
    });
    await new Promise<void>((r) => edgeServer.listen(0, '127.0.0.1', r));
    const edgePort = (edgeServer.address() as net.AddressInfo).port;
    // A TCP relay that can start dropping everything without closing either side.
    proxy = net.createServer((client) => {
      const upstream = net.connect(edgePort, '127.0.0.1');
      client.on('data', (d) => {
        if (!blackhole) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!blackhole) client.write(d);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  });

  afterAll(() => {
    proxy?.close();
    edgeServer?.close();
  });

  it('declares a silent peer dead on both ends within a few seconds', async () => {
    const conn = await AgentHttp2Connection.connect({
      host: '127.0.0.1',
      port: (proxy.address() as net.AddressInfo).port,
      ca: pki.caPem,
      registration,
      onRequest: (req) => req.stream.destroy(),
    });
    expect(conn.details?.locationName).toBe('KA');
    const edge = edgeConns.at(-1) as EdgeHttp2Connection;
    const agentClosed = new Promise<Error | null>((r) => conn.once('close', r));
    const edgeClosed = new Promise<Error | null>((r) => edge.once('close', r));
    // Healthy for a while: keepalive must not kill a quiet but live connection.
    await new Promise((r) => setTimeout(r, 3000));
    expect(edge.isClosed).toBe(false);
    blackhole = true;
    const t0 = Date.now();
    const [agentErr, edgeErr] = await Promise.all([agentClosed, edgeClosed]);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(8000);
    expect((agentErr as { code?: string }).code).toBe('EDGE_UNRESPONSIVE');
    expect((edgeErr as { code?: string }).code).toBe('AGENT_UNRESPONSIVE');
  }, 20_000);

  it('refuses an edge whose certificate does not chain to the given CA', async () => {
    const other = await createPki();
    await expect(
      AgentHttp2Connection.connect({
        host: '127.0.0.1',
        port: (edgeServer.address() as net.AddressInfo).port,
        ca: other.caPem,
        registration,
        onRequest: () => {},
      }),
    ).rejects.toMatchObject({
      code: 'EDGE_CERTIFICATE',
      message: expect.stringContaining("the edge's certificate at 127.0.0.1:"),
    });
  });
});
