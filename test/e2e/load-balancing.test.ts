import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, startKube, type KubeProc } from '../helpers/kube.js';
import { INGRESS_CLASS, countingOrigin, ingress, slice, type CountingOrigin } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * The Service annotation tunnel-ingress.dev/load-balance through the whole path: consistent hashing on a
 * header keeps a user on one endpoint, and an invalid value gets an Event and round-robin.
 */
const serviceWith = (lb: string) => `apiVersion: v1
kind: Service
metadata:
  name: lb
  annotations: {tunnel-ingress.dev/load-balance: "${lb}"}
spec:
  ports: [{name: "http", port: 80}]
`;

describe('load balancing by annotation', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  const origins: CountingOrigin[] = [];
  const who = async (user: string) => {
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'lb.test', 'x-user': user } });
    return (JSON.parse(await res.body.text()) as { origin: string }).origin;
  };

  beforeAll(async () => {
    origins.push(...(await Promise.all(['lb-a', 'lb-b', 'lb-c'].map((n) => countingOrigin(n)))));
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['lb'], routes: ['lb.test=lb'] });
    await k.apply(
      [
        INGRESS_CLASS,
        serviceWith('hash:header:X-User'),
        ...origins.map((o) => slice(`lb-${o.name}`, 'lb', o.port, [{}])),
        ingress('lb', [{ host: 'lb.test', paths: [['/', 'Prefix', 'lb']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'lb', k, ['--ha-connections', '1']), {
      waitReady: 1,
    });
    await waitUntil(
      async () => {
        const routes = (await (await request(`${agent.metricsUrl}/debug/routes`)).body.json()) as {
          routes: Array<{ endpoints?: string[] }>;
        };
        return routes.routes[0]?.endpoints?.length === 3 ? true : undefined;
      },
      10_000,
      'three endpoints',
    );
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await Promise.all(origins.map((o) => o.close()));
  });

  it('keeps each user on one endpoint with hash:header, and spreads users', async () => {
    const placement = new Map<string, string>();
    for (let u = 0; u < 30; u++) placement.set(`user-${u}`, await who(`user-${u}`));
    for (let round = 0; round < 3; round++)
      for (const [user, origin] of placement) expect(await who(user)).toBe(origin);
    expect(new Set(placement.values()).size).toBe(3);
  });

  it('reports an invalid value with an Event and uses round-robin', async () => {
    await k.apply(serviceWith('fastest-please'));
    const event = await waitUntil(
      async () => {
        const items = await events(k);
        return items.find((e) => e.reason === 'InvalidAnnotation');
      },
      10_000,
      'an InvalidAnnotation Event',
    );
    expect(event.message).toContain('fastest-please');
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await who('user-1'));
    expect(seen.size).toBe(3);
  });
});
