import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { agentArgs, startAgent, startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/** --protocol auto: QUIC first, HTTP/2 when QUIC cannot register (here: no UDP listener at all). */
describe('protocol auto', () => {
  let edge: EdgeSimProc;
  let origin: { server: http.Server; port: number };
  beforeAll(async () => {
    origin = await startEchoOrigin('fallback-origin');
    edge = await startEdgeSim({ tunnels: ['fb'], routes: ['fb.test=fb'], extra: ['--no-quic'] });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    origin?.server.close();
  });

  it('falls back to HTTP/2 when UDP is blocked and registers within 10 s', async () => {
    const started = Date.now();
    const agent = await startAgent(
      agentArgs(edge, 'fb', `http://127.0.0.1:${origin.port}`, [
        '--protocol',
        'auto',
        '--ha-connections',
        '1',
      ]),
      { waitReady: 1 },
    );
    try {
      expect(Date.now() - started).toBeLessThan(10_000);
      const [t] = await edge.tunnels();
      expect(t?.connections.map((c) => (c as { protocol?: string }).protocol)).toEqual(['http2']);
      expect(agent.proc.lines.some((l) => l.msg === 'QUIC does not work here; falling back to HTTP/2')).toBe(
        true,
      );
      const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'fb.test' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await agent.stop();
    }
  }, 30_000);
});
