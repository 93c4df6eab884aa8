import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { agentArgs, startAgent, startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/**
 * --protocol auto: HTTP/2 first (it measured better, docs/performance.md), QUIC where TCP to the edge is
 * blocked, HTTP/2 where UDP is; either way registered within 10 s and serving.
 */
describe.each([
  { blocked: 'UDP', flag: '--no-quic', expected: 'http2', warning: null },
  {
    blocked: 'TCP',
    flag: '--no-http2',
    expected: 'quic',
    warning: 'HTTP/2 cannot reach the edge here; trying QUIC',
  },
])('protocol auto with $blocked blocked', ({ flag, expected, warning }) => {
  let edge: EdgeSimProc;
  let origin: { server: http.Server; port: number };
  beforeAll(async () => {
    origin = await startEchoOrigin('fallback-origin');
    edge = await startEdgeSim({ tunnels: ['fb'], routes: ['fb.test=fb'], extra: [flag] });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    origin?.server.close();
  });

  it(`registers over ${expected} within 10 s and serves`, async () => {
    const started = Date.now();
    const agent = await startAgent(
      agentArgs(edge, 'fb', `http://127.0.0.1:${origin.port}`, [
        '--protocol',
        'auto',
        '--ha-connections',
        '2',
      ]),
      { waitReady: 2 },
    );
    try {
      expect(Date.now() - started).toBeLessThan(10_000);
      const [t] = await edge.tunnels();
      expect(t?.connections.map((c) => (c as { protocol?: string }).protocol)).toEqual([expected, expected]);
      const warned = agent.proc.lines.filter((l) => / cannot reach the edge here; /.test(String(l.msg)));
      if (warning === null) expect(warned).toEqual([]);
      else expect(warned.map((l) => l.msg)).toEqual([warning]);
      const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'fb.test' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await agent.stop();
    }
  }, 30_000);
});
