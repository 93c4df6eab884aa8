import { writeFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http2';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type Pki } from '../../common/pki.js';
import { formatCredentialsFile } from '../../tunnel/credentials.js';
import { EdgeQuicConnection } from '../../tunnel/quic/edge-quic-connection.js';
import { QuicListener } from '../../tunnel/quic/quic-endpoint.js';
import type { QuicStream } from '../../tunnel/quic/quic-stream.js';
import { acceptingEdge } from '../helpers/tunnel-fixtures.js';
import { POD_IP, countingOrigin, type CountingOrigin } from '../helpers/origins.js';
import { tempDir, waitUntil } from '../helpers/processes.js';
import { startAgent, type AgentProc } from '../helpers/stack.js';

/**
 * Request smuggling aimed at the agent itself. The QUIC transport carries request headers as free-form
 * metadata, so an edge (or anything that gets to speak as one) can hand the agent framing that
 * HTTP/2 would have refused: the agent answers 400, the origin sees nothing, and the next request on
 * the same connection is served. The test plays the edge with the project's own QUIC edge code.
 */
describe('request smuggling through the tunnel, refused by the agent', () => {
  let pki: Pki;
  let listener: QuicListener;
  let tmp: { dir: string; remove(): Promise<void> };
  let origin: CountingOrigin;
  let agent: AgentProc;
  const edges: EdgeQuicConnection[] = [];

  beforeAll(async () => {
    pki = await createPki();
    tmp = await tempDir('smuggle');
    origin = await countingOrigin('smuggle');
    listener = new QuicListener({ host: '127.0.0.1', port: 0, certPem: pki.certPem, keyPem: pki.keyPem });
    const { port } = await listener.listen();
    listener.on('connection', (c) => edges.push(new EdgeQuicConnection(c, acceptingEdge('SMG'))));
    const ca = path.join(tmp.dir, 'ca.pem');
    await writeFile(ca, pki.caPem);
    const creds = path.join(tmp.dir, 'creds.json');
    await writeFile(
      creds,
      formatCredentialsFile({
        accountTag: 'acct',
        tunnelSecret: Buffer.alloc(32, 7),
        tunnelId: '6f2c1a9e-3b1d-4e8a-9c55-0d7b2f4a1e33',
        endpoint: '',
      }),
    );
    agent = await startAgent(
      [
        '--credentials-file',
        creds,
        '--edge',
        `127.0.0.1:${port}`,
        '--cacert',
        ca,
        '--protocol',
        'quic',
        '--ha-connections',
        '1',
        '--url',
        `http://${POD_IP}:${origin.port}`,
      ],
      { waitReady: 1 },
    );
    await waitUntil(async () => (edges.length > 0 ? true : undefined), 10_000, 'the agent at the edge');
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await listener?.close();
    await origin?.close();
    await tmp?.remove();
  });

  function send(headers: OutgoingHttpHeaders, body?: string): Promise<{ status: number; body: string }> {
    const edge = edges.at(-1) as EdgeQuicConnection;
    const stream: QuicStream = edge.request(
      {
        ':method': body === undefined ? 'GET' : 'POST',
        ':scheme': 'http',
        ':authority': 'app.test',
        ':path': '/echo',
        ...headers,
      },
      body === undefined,
    );
    if (body !== undefined) stream.end(body);
    return new Promise((resolve, reject) => {
      stream.on('error', reject);
      stream.once('response', (h: Record<string, unknown>) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () =>
          resolve({ status: Number(h[':status']), body: Buffer.concat(chunks).toString() }),
        );
      });
    });
  }

  it.each([
    [
      'Content-Length with Transfer-Encoding',
      { 'content-length': '5', 'transfer-encoding': 'chunked' },
      'hello',
      'both Content-Length and Transfer-Encoding',
    ],
    [
      'two different Content-Lengths',
      { 'content-length': ['5', '6'] },
      'hello',
      'two different Content-Length values',
    ],
    [
      'a Content-Length list that disagrees',
      { 'content-length': '5, 0' },
      'hello',
      'two different Content-Length values',
    ],
    ['obs-fold', { 'x-folded': 'first\r\n second' }, undefined, 'x-folded header holds CR, LF or NUL'],
    [
      'a header injected inside a value',
      { 'x-note': 'a\r\nTransfer-Encoding: chunked' },
      undefined,
      'x-note header holds CR, LF or NUL',
    ],
  ])(
    'refuses %s with 400, the origin sees nothing, the next request is served',
    async (_name, headers, body, says) => {
      const before = origin.hits;
      const refused = await send(headers as OutgoingHttpHeaders, body);
      expect(refused.status).toBe(400);
      expect(refused.body).toContain(says);
      const ok = await send({});
      expect(ok.status).toBe(200);
      expect(origin.hits).toBe(before + 1);
      expect(
        agent.proc.lines.some((l) => l.msg === 'request refused' && String(l.reason).includes(says)),
      ).toBe(true);
    },
  );

  it('refuses a websocket request with CR/LF in a header the same way, and lives on', async () => {
    const before = origin.hits;
    const refused = await send({
      'cf-cloudflared-proxy-connection-upgrade': 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'x-note': 'a\r\nX-Injected: 1',
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('x-note header holds CR, LF or NUL');
    // A header node:http will not write (not a smuggling shape, just unwritable) costs that request only.
    const unwritable = await send({
      'cf-cloudflared-proxy-connection-upgrade': 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'x-bad\u0001name': 'v',
    });
    expect(unwritable.status).toBe(400);
    expect((await send({})).status).toBe(200);
    expect(origin.hits).toBe(before + 1);
    expect(agent.proc.child.exitCode).toBeNull();
  });
});
