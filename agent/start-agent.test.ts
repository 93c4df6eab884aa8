import type http from 'node:http';
import pino from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../examples/origin/echo-origin.js';
import { startEdgeSim, type EdgeSimProc } from '../test/helpers/stack.js';
import { buildConfig } from './config.js';
import type { Loggers } from './observability/log.js';
import { startAgent, type RunningAgent } from './start-agent.js';

/**
 * The whole agent in this process through its composition root, against a real edge-sim process:
 * what main.ts does, minus flags and signals. The log lines it writes are collected here.
 */
let edge: EdgeSimProc;
let origin: { server: http.Server; port: number };

beforeAll(async () => {
  origin = await startEchoOrigin('in-process');
  edge = await startEdgeSim({ tunnels: ['t'], routes: ['app.test=t'] });
}, 30_000);

afterAll(async () => {
  await edge?.stop();
  origin?.server.close();
});

function collecting(): { loggers: Loggers; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) };
  const log = pino({ level: 'info' }, sink);
  return { loggers: { log, access: log, flush: () => Promise.resolve(), onDrop() {} }, lines };
}

describe.each(['http2', 'quic'])('startAgent over %s', (protocol) => {
  let agent: RunningAgent;
  const { loggers, lines } = collecting();

  it('serves through the edge, answers /ready on its admin address, and closes cleanly', async () => {
    const config = buildConfig(
      {
        'credentials-file': edge.credentialsFile('t'),
        edge: [edge.tunnelAddr],
        cacert: edge.caFile,
        url: `http://127.0.0.1:${origin.port}`,
        protocol,
        'ha-connections': '2',
      },
      {},
    );
    agent = await startAgent(config, { loggers });
    const admin = `http://${agent.addresses.admin.host}:${agent.addresses.admin.port}`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await request(`${admin}/ready`);
      const body = (await r.body.json()) as { readyConnections: number };
      if (body.readyConnections === 2) break;
      if (Date.now() > deadline) throw new Error('no ready connections');
      await new Promise((res) => setTimeout(res, 50));
    }
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'app.test' } });
    expect(res.statusCode).toBe(200);
    const echo = (await res.body.json()) as { headers: Record<string, string> };
    expect(echo.headers['cf-warp-tag-id']).toBe(agent.connectorId);
    await agent.close(1000);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ path: '/echo', status: 200 });
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
    // Unregistered and drained: the edge lets the connections go.
    const gone = Date.now() + 5000;
    while (((await edge.tunnels())[0]?.connections.length ?? 0) > 0) {
      if (Date.now() > gone) throw new Error('the edge still lists the connections');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);
});
