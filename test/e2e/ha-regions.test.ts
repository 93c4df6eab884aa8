import type http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { waitUntil } from '../helpers/processes.js';
import {
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeConnectionView,
  type EdgeSimProc,
} from '../helpers/stack.js';

/** Four connections over two edge regions, and one of them dropped under a steady load. */
describe.each(['http2', 'quic'])('HA across two regions over %s', (protocol) => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: { server: http.Server; port: number };
  let secondRegion: string;

  beforeAll(async () => {
    origin = await startEchoOrigin('ha-origin');
    edge = await startEdgeSim({
      tunnels: ['ha'],
      routes: ['ha.test=ha'],
      extra: ['--region-listen', 'AMS=127.0.0.1:0'],
    });
    secondRegion = (
      edge.proc.lines.find((l) => l.msg === 'edge-sim listening')?.regions as Record<string, string>
    ).AMS as string;
    agent = await startAgent(
      [
        '--credentials-file',
        edge.credentialsFile('ha'),
        '--edge',
        edge.tunnelAddr,
        '--edge',
        secondRegion,
        '--cacert',
        edge.caFile,
        '--url',
        `http://127.0.0.1:${origin.port}`,
        '--protocol',
        protocol,
      ],
      { waitReady: 4 },
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.server.close();
  });

  const connections = async (): Promise<EdgeConnectionView[]> => (await edge.tunnels())[0]?.connections ?? [];

  it('spreads 4 connections 2 + 2 over the two regions, index 0 first', async () => {
    await waitUntil(
      async () => ((await connections()).length === 4 ? true : undefined),
      10_000,
      '4 connections',
    );
    const conns = await connections();
    const byLocation = new Map<string, number[]>();
    for (const c of conns) byLocation.set(c.location, [...(byLocation.get(c.location) ?? []), c.connIndex]);
    expect([...byLocation.keys()].sort()).toEqual(['AMS', 'SIM']);
    expect(byLocation.get('SIM')?.sort()).toEqual([0, 2]);
    expect(byLocation.get('AMS')?.sort()).toEqual([1, 3]);
  });

  it('loses only the requests in flight on a dropped connection, and has it back within 3 s', async () => {
    let sent = 0;
    let failed = 0;
    let stop = false;
    /** requests answered 200 after index 1 came back: the tunnel serves on, whatever the machine's load */
    let okAfterBack = 0;
    let backAt = Infinity;
    const worker = async () => {
      while (!stop) {
        sent++;
        try {
          const res = await request(`${edge.publicUrl}/slow/20`, { headers: { host: 'ha.test' } });
          await res.body.text();
          if (res.statusCode !== 200) failed++;
          else if (Date.now() > backAt) okAfterBack++;
        } catch {
          failed++;
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    await new Promise((r) => setTimeout(r, 500));
    const victim = (await connections()).find((c) => c.connIndex === 1) as EdgeConnectionView;
    const dropped = (await (
      await request(`${edge.apiUrl}/_edge/connections/${victim.id}/drop`, { method: 'POST' })
    ).body.json()) as { inflight: number };
    const droppedAt = Date.now();
    const back = await waitUntil(
      async () =>
        (await connections()).some((c) => c.connIndex === 1 && c.id !== victim.id)
          ? Date.now() - droppedAt
          : undefined,
      5000,
      'index 1 to reconnect',
    );
    backAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(workers);
    // Load was flowing through the drop (16 workers each had a request out), and after it.
    expect(sent).toBeGreaterThan(16);
    expect(okAfterBack).toBeGreaterThan(0);
    expect(failed).toBeLessThanOrEqual(dropped.inflight);
    expect(back).toBeLessThan(3000);
  }, 30_000);
});
