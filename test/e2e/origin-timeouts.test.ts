import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, INGRESS_CLASS, ingress, service, slice } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/** Timeouts per Ingress: response-header-timeout cuts a slow origin with 502; websocket-idle-timeout closes a quiet socket. */
const annotated = (name: string, host: string, annotations: Record<string, string>) =>
  ingress(name, [{ host, paths: [['/', 'Prefix', 'slow']] }], '', annotations);

describe('timeouts by annotation', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: { server: http.Server; port: number };
  let wss: WebSocketServer;

  beforeAll(async () => {
    origin = await startEchoOrigin('slow-origin', 0, POD_IP);
    wss = new WebSocketServer({ server: origin.server });
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['t'], routes: ['quick.test=t', 'patient.test=t'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('slow'),
        slice('slow-1', 'slow', origin.port, [{}]),
        annotated('quick', 'quick.test', {
          'tunnel-ingress.dev/response-header-timeout': '300ms',
          'tunnel-ingress.dev/websocket-idle-timeout': '1s',
        }),
        annotated('patient', 'patient.test', {}),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 't', k, ['--ha-connections', '1']), {
      waitReady: 1,
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    wss?.close();
    origin?.server.close();
  });

  it('cuts a response slower than response-header-timeout with 502, and only on that Ingress', async () => {
    const get = async (host: string, path: string) => {
      const res = await request(`${edge.publicUrl}${path}`, { headers: { host } });
      await res.body.text();
      return res.statusCode;
    };
    await waitUntil(
      async () => ((await get('quick.test', '/echo')) === 200 ? true : undefined),
      10_000,
      'routes',
    );
    expect(await get('quick.test', '/slow/1000')).toBe(502);
    expect(await get('patient.test', '/slow/1000')).toBe(200);
    expect(await get('quick.test', '/slow/50')).toBe(200);
  });

  it('closes a websocket idle longer than websocket-idle-timeout, and keeps an active one', async () => {
    const open = (host: string) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`${edge.publicUrl.replace('http', 'ws')}/ws`, { headers: { host } });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const quick = await open('quick.test');
    const patient = await open('patient.test');
    const t0 = Date.now();
    const closedAt = new Promise<number>((r) => quick.once('close', () => r(Date.now() - t0)));
    const after = await closedAt;
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(5000);
    const echoed = new Promise<string>((r) => patient.once('message', (d) => r(d.toString())));
    patient.send('still open');
    expect(await echoed).toBe('still open');
    patient.close();
  }, 20_000);
});
