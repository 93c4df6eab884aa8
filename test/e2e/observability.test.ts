import { readFile } from 'node:fs/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc, type KubeSimProc } from '../helpers/kube.js';
import {
  INGRESS_CLASS,
  POD_IP,
  countingOrigin,
  ingress,
  service,
  slice,
  type CountingOrigin,
} from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/** Metrics, the access log, /requests and /debug/routes, driven by real traffic. */
describe('observability', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;

  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const text = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      if (!Object.entries(labels).every(([k2, v]) => line.includes(`${k2}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  };

  beforeAll(async () => {
    origin = await countingOrigin('observed');
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['obs'], routes: ['obs.test=obs', 'nope.test=obs'] });
    await k.kubectl(
      ['apply', '-f', '-'],
      [
        INGRESS_CLASS,
        service('app'),
        slice('app-1', 'app', origin.port, [{}]),
        ingress('obs', [{ host: 'obs.test', paths: [['/', 'Prefix', 'app']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'obs', k, ['--ha-connections', '2']), {
      waitReady: 2,
    });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
  });

  it('counts requests, bytes and outcomes by the right amounts', async () => {
    const before2xx = await metric('tunnel_ingress_requests_total', {
      host: 'obs.test',
      status_class: '2xx',
    });
    const before404 = await metric('tunnel_ingress_requests_total', {
      host: 'unmatched',
      status_class: '4xx',
    });
    const beforeOut = await metric('tunnel_ingress_bytes_total', { direction: 'out' });
    const beforeIn = await metric('tunnel_ingress_bytes_total', { direction: 'in' });
    for (let i = 0; i < 20; i++) {
      const res = await request(`${edge.publicUrl}/bytes/1000`, { headers: { host: 'obs.test' } });
      await res.body.text();
    }
    const post = await request(`${edge.publicUrl}/echo`, {
      method: 'POST',
      body: 'x'.repeat(500),
      headers: { host: 'obs.test' },
    });
    await post.body.text();
    const miss = await request(`${edge.publicUrl}/`, { headers: { host: 'nope.test' } });
    await miss.body.text();
    expect(
      (await metric('tunnel_ingress_requests_total', { host: 'obs.test', status_class: '2xx' })) - before2xx,
    ).toBe(21);
    expect(
      (await metric('tunnel_ingress_requests_total', { host: 'unmatched', status_class: '4xx' })) - before404,
    ).toBe(1);
    expect(
      (await metric('tunnel_ingress_bytes_total', { direction: 'out' })) - beforeOut,
    ).toBeGreaterThanOrEqual(20_000);
    expect((await metric('tunnel_ingress_bytes_total', { direction: 'in' })) - beforeIn).toBe(500);
    expect(
      await metric('tunnel_ingress_request_duration_seconds_count', { host: 'obs.test' }),
    ).toBeGreaterThanOrEqual(21);
    expect(await metric('tunnel_ingress_streams_in_flight')).toBe(0);
  });

  it('reports tunnel connections, leadership, the route table generation and process metrics', async () => {
    expect(await metric('tunnel_ingress_tunnel_connections')).toBe(2);
    expect(await metric('tunnel_ingress_tunnel_connections', { location: 'SIM' })).toBe(2);
    await waitUntil(
      async () => ((await metric('tunnel_ingress_leader')) === 1 ? true : undefined),
      10_000,
      'leadership',
    );
    expect(await metric('tunnel_ingress_route_table_generation')).toBeGreaterThanOrEqual(1);
    expect(
      await metric('tunnel_ingress_reconcile_duration_seconds_count', { kind: 'routes' }),
    ).toBeGreaterThanOrEqual(1);
    expect(await metric('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('logs one access line per request and keeps the last ones at /requests', async () => {
    const res = await request(`${edge.publicUrl}/echo?marker=abc`, { headers: { host: 'obs.test' } });
    await res.body.text();
    const ray = res.headers['cf-ray'] as string;
    const line = await agent.proc.waitFor((l) => l.msg === 'request' && l.ray === ray, 5000);
    expect(line).toMatchObject({
      host: 'obs.test',
      path: '/echo?marker=abc',
      status: 200,
      method: 'GET',
      endpoint: `${POD_IP}:${origin.port}`,
    });
    expect(line.durationMs).toEqual(expect.any(Number));
    const recent = (await (await request(`${agent.metricsUrl}/requests`)).body.json()) as {
      requests: Array<{ ray: string }>;
    };
    expect(recent.requests.at(-1)?.ray).toBe(ray);
  });

  it('shows the compiled routes at /debug/routes', async () => {
    const routes = (await (await request(`${agent.metricsUrl}/debug/routes`)).body.json()) as {
      routes: Array<Record<string, unknown>>;
    };
    expect(routes.routes).toEqual([
      expect.objectContaining({
        host: 'obs.test',
        path: '/',
        pathType: 'Prefix',
        source: `ingress/${k.namespace}/obs`,
        endpoints: [`${POD_IP}:${origin.port}`],
      }),
    ]);
  });

  it('never writes the tunnel secret or the API token into a log line', async () => {
    const creds = JSON.parse(await readFile(edge.credentialsFile('obs'), 'utf8')) as { TunnelSecret: string };
    const secretHex = Buffer.from(creds.TunnelSecret, 'base64').toString('hex');
    for (const raw of [
      ...agent.proc.raw,
      ...edge.proc.raw,
      ...('proc' in k ? (k as KubeSimProc).proc.raw : []),
    ]) {
      expect(raw).not.toContain(creds.TunnelSecret);
      expect(raw).not.toContain(secretHex);
      expect(raw).not.toContain(k.token);
    }
  });

  it('flips /ready with the tunnel: 503 when the edge is gone, 200 when it is back', async () => {
    const ready = async () => (await request(`${agent.metricsUrl}/ready`)).statusCode;
    expect(await ready()).toBe(200);
    await edge.proc.stop();
    await waitUntil(async () => ((await ready()) === 503 ? true : undefined), 10_000, '/ready to turn 503');
    const body = (await (await request(`${agent.metricsUrl}/ready`)).body.json()) as {
      readyConnections: number;
    };
    expect(body.readyConnections).toBe(0);
    // The same state directory and port: the agent's connections come back on their own.
    edge = await startEdgeSim({
      tunnels: ['obs'],
      routes: ['obs.test=obs'],
      stateDir: edge.stateDir,
      tunnelPort: Number(edge.tunnelAddr.split(':')[1]),
    });
    await waitUntil(
      async () => ((await ready()) === 200 ? true : undefined),
      20_000,
      '/ready to turn 200 again',
    );
  }, 40_000);
});
