import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { AgentHttp2Connection } from '../../tunnel/http2/agent-connection.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/** Whatever a peer sends, edge-sim drops that peer alone and keeps serving everyone else. */
describe('edge-sim and bad peers', () => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: { server: http.Server; port: number };
  let ca: string;
  let edgeHost: string;
  let edgePort: number;

  beforeAll(async () => {
    origin = await startEchoOrigin('steady');
    edge = await startEdgeSim({ tunnels: ['good'], routes: ['good.test=good'] });
    agent = await startAgent(
      agentArgs(edge, 'good', `http://127.0.0.1:${origin.port}`, ['--ha-connections', '1']),
      { waitReady: 1 },
    );
    ca = await readFile(edge.caFile, 'utf8');
    [edgeHost, edgePort] = [edge.tunnelAddr.split(':')[0] as string, Number(edge.tunnelAddr.split(':')[1])];
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.server.close();
  });

  async function stillServing(): Promise<void> {
    expect(edge.proc.child.exitCode).toBeNull();
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'good.test' } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  }

  function tlsToEdge(): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: edgeHost, port: edgePort, servername: 'h2.cftunnel.com', ca }, () =>
        resolve(s),
      );
      s.once('error', reject);
    });
  }

  it('survives plain-text garbage on the TLS port', async () => {
    const s = net.connect(edgePort, edgeHost);
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.alloc(4096, 0x41));
    await new Promise((r) => s.once('close', r));
    await stillServing();
  });

  it('survives garbage after the TLS handshake instead of HTTP/2', async () => {
    const s = await tlsToEdge();
    s.on('error', () => {});
    s.resume(); // the edge's close is only seen by a socket that reads
    s.write(Buffer.from('this is not an HTTP/2 server preface\r\n\r\n'.repeat(50)));
    await new Promise((r) => s.once('close', r));
    await stillServing();
  });

  it("aborts only the connection whose control stream carries a malformed Cap'n Proto frame", async () => {
    const s = await tlsToEdge();
    const server = http2.createServer();
    let closed = false;
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.on('error', () => {});
      // One segment of one word whose root pointer points far outside the segment.
      stream.write(Buffer.from('00000000010000007c00000001000100', 'hex'));
    });
    server.on('session', (session) => {
      session.on('error', () => {});
      session.on('close', () => (closed = true));
    });
    Object.defineProperty(s, 'alpnProtocol', { value: 'h2' });
    server.emit('connection', s);
    const deadline = Date.now() + 5000;
    while (!closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
    expect(edge.proc.raw.join('\n')).toMatch(/malformed|pointer out of bounds|RPC/i);
    await stillServing();
  });

  it('refuses a registration for an unknown tunnel with a clear cause', async () => {
    await expect(
      AgentHttp2Connection.connect({
        host: edgeHost,
        port: edgePort,
        ca,
        registration: {
          auth: { accountTag: 'nobody', tunnelSecret: Buffer.alloc(32, 1) },
          tunnelId: Buffer.alloc(16, 0x42),
          connIndex: 0,
          options: {
            client: { clientId: Buffer.alloc(16, 1), features: [], version: 'bad', arch: 'x' },
            originLocalIp: Buffer.alloc(0),
            replaceExisting: false,
            compressionQuality: 0,
            numPreviousAttempts: 0,
          },
        },
        onRequest: () => {},
      }),
    ).rejects.toThrow('the edge refused registration: Unauthorized: unknown tunnel');
    await stillServing();
  });
});
