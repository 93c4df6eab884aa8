import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { waitUntil } from '../helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/**
 * Websockets from a real ws client at edge-sim's public port to a real ws server behind the agent, on
 * both tunnel transports: frames both ways (text and binary), subprotocol and permessage-deflate
 * negotiated end to end, ping/pong, close codes, and a socket left idle stays open.
 */
describe.each(['http2', 'quic'])('websocket over %s', (protocol) => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let server: http.Server;
  let wss: WebSocketServer;
  let url: string;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.writeHead(426).end('websockets only\n'));
    wss = new WebSocketServer({
      server,
      perMessageDeflate: true,
      handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
      verifyClient: (info, cb) => (info.req.url === '/refuse' ? cb(false, 403, 'go away') : cb(true)),
    });
    wss.on('connection', (ws, req) => {
      ws.on('message', (data, isBinary) => {
        const text = isBinary ? null : data.toString();
        if (text === 'close-please') ws.close(4001, 'asked to');
        else if (text === 'headers') ws.send(JSON.stringify(req.headers));
        else ws.send(data, { binary: isBinary });
      });
      ws.on('ping', (d) => ws.send(`got ping ${d.toString()}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    edge = await startEdgeSim({ tunnels: ['ws'], routes: ['ws.test=ws'] });
    agent = await startAgent(
      agentArgs(edge, 'ws', `http://127.0.0.1:${port}`, ['--protocol', protocol, '--ha-connections', '1']),
      {
        waitReady: 1,
      },
    );
    url = edge.publicUrl.replace('http://', 'ws://');
  }, 30_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    wss?.close();
    server?.close();
  });

  const open = (protocols: string[] = ['chat.v2', 'chat.v1'], opts: WebSocket.ClientOptions = {}) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${url}/socket`, protocols, { headers: { host: 'ws.test' }, ...opts });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  const next = (ws: WebSocket) =>
    new Promise<{ data: Buffer; binary: boolean }>((resolve) =>
      ws.once('message', (data, binary) => resolve({ data: data as Buffer, binary })),
    );

  it('carries text and binary frames both ways and negotiates subprotocol and compression', async () => {
    const ws = await open();
    expect(ws.protocol).toBe('chat.v2');
    expect(ws.extensions).toContain('permessage-deflate');
    for (let i = 0; i < 20; i++) {
      const reply = next(ws);
      ws.send(`hello ${i}`);
      expect((await reply).data.toString()).toBe(`hello ${i}`);
    }
    const blob = Buffer.alloc(256 * 1024);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) % 251;
    const echoed = next(ws);
    ws.send(blob, { binary: true });
    const got = await echoed;
    expect(got.binary).toBe(true);
    expect(Buffer.compare(got.data, blob)).toBe(0);
    const h = next(ws);
    ws.send('headers');
    const seen = JSON.parse((await h).data.toString()) as Record<string, string>;
    expect(seen.host).toBe('ws.test');
    expect(seen['cf-ray']).toMatch(/-SIM$/);
    expect(seen['cf-cloudflared-proxy-connection-upgrade']).toBeUndefined();
    const open1 = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    expect(open1).toMatch(/^tunnel_ingress_long_streams\{kind="websocket"\} 1$/m);
    const closed = new Promise((r) => ws.once('close', r));
    ws.close(1000);
    await closed;
    await waitUntil(
      async () => {
        const text = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
        return /^tunnel_ingress_long_streams\{kind="websocket"\} 0$/m.test(text) ? true : undefined;
      },
      5000,
      'the websocket gauge back at 0',
    );
  });

  it('passes ping/pong and close codes, and keeps an idle socket open', async () => {
    const ws = await open();
    const pong = new Promise<string>((r) => ws.once('pong', (d) => r(d.toString())));
    const reply = next(ws);
    ws.ping('abc');
    expect(await pong).toBe('abc');
    expect((await reply).data.toString()).toBe('got ping abc');
    await new Promise((r) => setTimeout(r, 6000)); // longer than the QUIC idle timeout and any keepalive gap
    const after = next(ws);
    ws.send('still here');
    expect((await after).data.toString()).toBe('still here');
    const closed = new Promise<[number, string]>((r) =>
      ws.once('close', (code, reason) => r([code, reason.toString()])),
    );
    ws.send('close-please');
    expect(await closed).toEqual([4001, 'asked to']);
  }, 20_000);

  it("counts a websocket's bytes both ways in bytes_total and its /requests line", async () => {
    const bytes = async () => {
      const text = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
      const of = (d: string) =>
        Number(
          new RegExp(`^tunnel_ingress_bytes_total\\{direction="${d}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
        );
      return { in: of('in'), out: of('out') };
    };
    const before = await bytes();
    const ws = new WebSocket(`${url}/socket/bytes-counted`, {
      headers: { host: 'ws.test' },
      perMessageDeflate: false,
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const chunk = Buffer.alloc(10_000, 7);
    for (let i = 0; i < 5; i++) {
      const echoed = new Promise((r) => ws.once('message', r));
      ws.send(chunk);
      await echoed;
    }
    ws.close(1000);
    await new Promise((r) => ws.once('close', r));
    const line = await waitUntil(
      async () => {
        const { requests } = (await (await request(`${agent.metricsUrl}/requests`)).body.json()) as {
          requests: Array<{ path: string; status: number; bytesIn: number; bytesOut: number }>;
        };
        return requests.find((r) => r.path === '/socket/bytes-counted');
      },
      5_000,
      'the websocket in /requests',
    );
    // five 10,000-byte frames each way, with their frame headers (masked from the visitor) and the handshake
    expect(line.status).toBe(101);
    expect(line.bytesIn).toBeGreaterThanOrEqual(50_000);
    expect(line.bytesIn).toBeLessThan(51_500);
    expect(line.bytesOut).toBeGreaterThanOrEqual(50_000);
    expect(line.bytesOut).toBeLessThan(51_500);
    const after = await bytes();
    expect(after.in - before.in).toBeGreaterThanOrEqual(line.bytesIn);
    expect(after.out - before.out).toBeGreaterThanOrEqual(line.bytesOut);
  });

  it('relays an origin that refuses the upgrade as an ordinary response', async () => {
    const bad = new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url}/refuse`, ['chat.v2'], { headers: { host: 'ws.test' } });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    expect(await bad).toBe(403);
  });

  it('answers 530 / 1001 for a websocket to a host with no route', async () => {
    await expect(open(['chat.v2'], { headers: { host: 'nowhere.test' } })).rejects.toThrow('HTTP 530');
  });
});
