import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import WebSocket from 'ws';
import { HEADERS_TIMEOUT_MS } from '../../edge-sim/public-listener.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/**
 * What real cloudflared and visitors found different between edge-sim and Cloudflare's edge, on the
 * visitors' side: the CDN-Loop header, the 530 status line, two Host headers, slow request heads, and
 * an origin that refuses a websocket upgrade over the HTTP/2 transport.
 */
describe('edge-sim as visitors meet it', () => {
  let edge: EdgeSimProc;
  let origin: http.Server;
  let agent: AgentProc;
  const seen: http.IncomingHttpHeaders[] = [];
  const publicPort = () => Number(new URL(edge.publicUrl).port);

  /** One raw HTTP/1.1 exchange: what the edge answers, byte for byte, up to the first blank line. */
  const raw = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = net.connect(publicPort(), '127.0.0.1', () => s.write(text));
      let got = '';
      s.on('data', (c) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          s.destroy();
          resolve(got.slice(0, got.indexOf('\r\n\r\n')));
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(got));
    });

  beforeAll(async () => {
    // An origin that answers every request, upgrades included, with an ordinary 200 page.
    origin = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('no websockets here\n');
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    edge = await startEdgeSim({ tunnels: ['v'], routes: ['v.test=v'] });
    agent = await startAgent(
      agentArgs(edge, 'v', `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, [
        '--protocol',
        'http2',
        '--ha-connections',
        '1',
      ]),
      { waitReady: 1 },
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.close();
  });

  it('adds CDN-Loop: cloudflare to what the origin receives, after any the visitor sent (RFC 8586)', async () => {
    seen.length = 0;
    let res = await request(`${edge.publicUrl}/`, { headers: { host: 'v.test' } });
    await res.body.text();
    res = await request(`${edge.publicUrl}/`, { headers: { host: 'v.test', 'cdn-loop': 'fastly' } });
    await res.body.text();
    expect(seen.map((h) => h['cdn-loop'])).toEqual(['cloudflare', 'fastly, cloudflare']);
  });

  it("answers 530 with nginx's status line, not Node's 'unknown'", async () => {
    const head = await raw('GET / HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 530 ');
  });

  it('refuses a request with two Host headers with 400 (RFC 9112 §3.2)', async () => {
    seen.length = 0;
    const head = await raw('GET / HTTP/1.1\r\nHost: v.test\r\nHost: other.test\r\nConnection: close\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    const upgrade = await raw(
      'GET / HTTP/1.1\r\nHost: v.test\r\nHost: other.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(upgrade.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(seen).toHaveLength(0);
  });

  it('shows a websocket upgrade the origin refused with 200 as that 200, not as 101 (HTTP/2 transport)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${publicPort()}/`, { headers: { host: 'v.test' } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => resolve(101));
      ws.on('error', reject);
    });
    ws.terminate();
    expect(status).toBe(200);
  });

  it(
    'closes 5,000 connections that stop in the middle of a request head once the headers timeout passes, serving others meanwhile',
    async () => {
      const sockets: net.Socket[] = [];
      const closedAt: number[] = [];
      const t0 = Date.now();
      await Promise.all(
        Array.from(
          { length: 5000 },
          (_, i) =>
            new Promise<void>((resolve) => {
              let connectedAt = Date.now();
              const s = net.connect(publicPort(), '127.0.0.1', () => {
                connectedAt = Date.now();
                // Half of them send part of a head; the rest a few bytes that are not even a method yet.
                s.write(i % 2 === 0 ? 'GET / HTTP/1.1\r\nHost: v.test\r\nX-Slow: ' : 'PR');
                resolve();
              });
              s.on('error', () => resolve());
              // how long each one lived, from its own connect (5,000 connects take a while under load)
              s.on('close', () => closedAt.push(Date.now() - connectedAt));
              sockets.push(s);
            }),
        ),
      );
      const res = await request(`${edge.publicUrl}/`, { headers: { host: 'v.test' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      const deadline = HEADERS_TIMEOUT_MS + 15_000;
      while (closedAt.length < sockets.length && Date.now() - t0 < deadline)
        await new Promise((r) => setTimeout(r, 250));
      for (const s of sockets) s.destroy();
      expect(closedAt.length).toBe(5000);
      expect(Math.max(...closedAt)).toBeLessThan(HEADERS_TIMEOUT_MS + 3000);
      expect(Math.min(...closedAt)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 1000);
    },
    HEADERS_TIMEOUT_MS + 40_000,
  );
});
