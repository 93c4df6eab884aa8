import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc } from '../helpers/kube.js';
import {
  INGRESS_CLASS,
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

/** kube-sim, edge-sim, the agent in Kubernetes mode and three origins, driven with kubectl. */
describe('the agent as an ingress controller', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let a: CountingOrigin;
  let b: CountingOrigin;
  let c: CountingOrigin;

  const visit = async (host: string, path: string) => {
    const res = await request(`${edge.publicUrl}${path}`, { headers: { host } });
    const body = await res.body.text();
    let origin: string | undefined;
    try {
      origin = (JSON.parse(body) as { origin?: string }).origin;
    } catch {
      origin = /<title>([^<]*)<\/title>/.exec(body)?.[1];
    }
    return { status: res.statusCode, origin, body };
  };

  beforeAll(async () => {
    [a, b, c] = await Promise.all([
      countingOrigin('origin-a'),
      countingOrigin('origin-b'),
      countingOrigin('origin-c'),
    ]);
    k = await startKube();
    edge = await startEdgeSim({
      tunnels: ['k8s'],
      routes: ['shop.test=k8s', 'api.test=k8s', 'broken.test=k8s', 'any.test=k8s'],
    });
    await k.apply(
      [
        INGRESS_CLASS,
        service('svc-a'),
        service('svc-b'),
        slice('svc-a-1', 'svc-a', a.port, [{}]),
        slice('svc-b-1', 'svc-b', b.port, [{}]),
      ].join('---\n'),
    );
    await k.apply(
      ingress('shop', [
        {
          host: 'shop.test',
          paths: [
            ['/', 'Prefix', 'svc-a'],
            ['/cart', 'Prefix', 'svc-b'],
          ],
        },
        { host: 'api.test', paths: [['/v1', 'Exact', 'svc-b']] },
      ]),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'k8s', k, ['--ha-connections', '2']), {
      waitReady: 2,
    });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await Promise.all([a, b, c].map((o) => o?.close()));
  });

  it('routes by host and path to the right origin', async () => {
    expect(await visit('shop.test', '/echo')).toMatchObject({ status: 200, origin: 'origin-a' });
    expect(await visit('shop.test', '/cart/items')).toMatchObject({ status: 200, origin: 'origin-b' });
    expect(await visit('shop.test', '/cartoon')).toMatchObject({ status: 200, origin: 'origin-a' });
    expect(await visit('api.test', '/v1')).toMatchObject({ status: 200, origin: 'origin-b' });
    const miss = await visit('api.test', '/v1/more');
    expect(miss.status).toBe(404);
    expect(miss.body).toContain('No route matches api.test/v1/more');
  });

  it('writes the tunnel address into the Ingress status', async () => {
    const tunnelId = (await edge.tunnels())[0]!.id;
    await waitUntil(
      async () => {
        const r = await k.kubectl([
          'get',
          'ingress',
          'shop',
          '-o',
          'jsonpath={.status.loadBalancer.ingress[0].hostname}',
        ]);
        return r.stdout === `${tunnelId}.cfargotunnel.com` ? true : undefined;
      },
      10_000,
      'the Ingress status',
    );
    // Only the status: the user's annotations (kubectl's last-applied-configuration among them) stay.
    // A PUT of /status with a bare metadata erased them on the real API server.
    const annotations = await k.kubectl(['get', 'ingress', 'shop', '-o', 'jsonpath={.metadata.annotations}']);
    expect(Object.keys(JSON.parse(annotations.stdout) as object)).toContain(
      'kubectl.kubernetes.io/last-applied-configuration',
    );
  });

  it('makes an edited path live within 1 s of kubectl apply', async () => {
    await k.apply(
      ingress('shop', [
        {
          host: 'shop.test',
          paths: [
            ['/', 'Prefix', 'svc-a'],
            ['/cart', 'Prefix', 'svc-b'],
            ['/new', 'Prefix', 'svc-b'],
          ],
        },
        { host: 'api.test', paths: [['/v1', 'Exact', 'svc-b']] },
      ]),
    );
    const applied = Date.now();
    let live = 0;
    while (Date.now() - applied < 3000) {
      if ((await visit('shop.test', '/new/thing')).origin === 'origin-b') {
        live = Date.now() - applied;
        break;
      }
    }
    expect(live).toBeGreaterThan(0);
    expect(live).toBeLessThan(1000);
  });

  it('sends nothing to an endpoint once its EndpointSlice drops it', async () => {
    await k.apply(service('svc-c'));
    await k.apply(slice('svc-c-1', 'svc-c', b.port, [{}]));
    // Two endpoints in two slices of one Service: origin-b and origin-c.
    await k.apply(slice('svc-c-2', 'svc-c', c.port, [{}]));
    await k.apply(ingress('spread', [{ host: 'any.test', paths: [['/', 'Prefix', 'svc-c']] }]));
    await waitUntil(
      async () => ((await visit('any.test', '/')).status === 200 ? true : undefined),
      5000,
      'the spread route',
    );
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await visit('any.test', '/echo')).origin ?? '');
    expect(seen).toEqual(new Set(['origin-b', 'origin-c']));
    // The endpoint turns terminating, then the slice drops it.
    await k.apply(slice('svc-c-2', 'svc-c', c.port, [{ ready: false, terminating: true }]));
    await new Promise((r) => setTimeout(r, 300));
    const before = c.hits;
    for (let i = 0; i < 30; i++) expect((await visit('any.test', '/echo')).origin).toBe('origin-b');
    expect(c.hits).toBe(before);
    await k.kubectl(['delete', 'endpointslice', 'svc-c-1']);
    await new Promise((r) => setTimeout(r, 300));
    const none = await visit('any.test', '/echo');
    expect(none.status).toBe(503);
    expect(none.body).toContain(`${k.namespace}/svc-c has no ready endpoint`);
  });

  it('gives a broken Ingress an Event while every other route keeps working', async () => {
    await k.apply(ingress('broken', [{ host: 'broken.test', paths: [['/', 'Prefix', 'no-such-service']] }]));
    await waitUntil(
      async () => {
        const ev = await k.kubectl([
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=broken',
          '-o',
          'jsonpath={.items[*].reason}',
        ]);
        return ev.stdout.includes('ServiceNotFound') ? true : undefined;
      },
      10_000,
      'a ServiceNotFound Event',
    );
    expect((await visit('broken.test', '/')).status).toBe(503);
    expect(await visit('shop.test', '/echo')).toMatchObject({ status: 200, origin: 'origin-a' });
    // The Event is written once, not on every reconcile.
    await k.apply(service('unrelated'));
    await new Promise((r) => setTimeout(r, 500));
    const events = await k.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=broken',
      '-o',
      'jsonpath={.items[*].count}',
    ]);
    expect(events.stdout).toBe('1');
  });

  it('is ready only with synced caches and a live tunnel', async () => {
    const res = await request(`${agent.metricsUrl}/ready`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({ status: 200, readyConnections: 2 });
  });
});
