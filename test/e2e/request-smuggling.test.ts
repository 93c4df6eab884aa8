import net from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POD_IP, countingOrigin, type CountingOrigin } from '../helpers/origins.js';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/**
 * Raw bytes at edge-sim's public port: ambiguous framing (Content-Length with Transfer-Encoding, two
 * different Content-Lengths, obs-fold, a bad chunk) is refused with 400 and the connection closed,
 * oversized headers with 431; nothing of it reaches the origin, and the edge keeps serving.
 */
describe('request smuggling and oversized headers at the edge', () => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;

  beforeAll(async () => {
    origin = await countingOrigin('smuggle-origin');
    edge = await startEdgeSim({ tunnels: ['sm'], routes: ['sm.test=sm'] });
    agent = await startAgent(
      agentArgs(edge, 'sm', `http://${POD_IP}:${origin.port}`, ['--ha-connections', '1']),
      {
        waitReady: 1,
      },
    );
  }, 30_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await origin?.close();
  });

  /** Sends raw bytes; resolves with everything the edge answered before closing (or after 3 s). */
  const raw = (text: string) =>
    new Promise<{ answer: string; closed: boolean }>((resolve) => {
      const [host, port] = edge.publicUrl.replace('http://', '').split(':') as [string, string];
      const s = net.connect(Number(port), host);
      let answer = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ answer, closed: false });
      }, 3000);
      s.on('data', (d) => (answer += d.toString('latin1')));
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ answer, closed: true });
      });
      s.on('error', () => {});
      s.write(text);
    });

  const cases: Array<[string, string, number]> = [
    [
      'Content-Length with Transfer-Encoding',
      'POST /echo HTTP/1.1\r\nHost: sm.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: sm.test\r\n\r\n',
      400,
    ],
    [
      'two different Content-Lengths',
      'POST /echo HTTP/1.1\r\nHost: sm.test\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc',
      400,
    ],
    ['obs-fold', 'GET /echo HTTP/1.1\r\nHost: sm.test\r\nX-Folded: a\r\n  b\r\n\r\n', 400],
    [
      'a malformed chunk',
      'POST /echo HTTP/1.1\r\nHost: sm.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      400,
    ],
    [
      'Transfer-Encoding that is not chunked last',
      'POST /echo HTTP/1.1\r\nHost: sm.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'headers over 32 KiB',
      `GET /echo HTTP/1.1\r\nHost: sm.test\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`,
      431,
    ],
  ];

  it.each(cases)('refuses %s and keeps serving', async (name, text, status) => {
    const before = origin.hits;
    const { answer, closed } = await raw(text);
    expect(answer.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(closed).toBe(true);
    expect(answer).not.toContain('smuggled');
    // A bad chunk shows only once the body streams, after valid headers went on: the origin may see
    // that one request start and then be aborted, never a second one.
    await new Promise((r) => setTimeout(r, 300)); // an aborted request may reach the origin late
    const reached = origin.hits - before;
    expect(reached).toBeLessThanOrEqual(name === 'a malformed chunk' ? 1 : 0);
    const ok = await request(`${edge.publicUrl}/echo`, { headers: { host: 'sm.test' } });
    await ok.body.text();
    expect(ok.statusCode).toBe(200);
    expect(origin.hits).toBe(before + reached + 1);
  });
});
