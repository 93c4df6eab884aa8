import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { AGENT_USER } from '../helpers/chart-rbac.js';
import type { KubeSimProc } from '../helpers/kube.js';
import { INGRESS_CLASS, caSecret, ingress, service } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import { startKubeStack, type AgentProc, type KubeStack } from '../helpers/stack.js';

/**
 * The agent reads only the Secrets its routes name (an Ingress's origin CA bundle, in the Ingress's own
 * namespace), and rebuilds the routes only when one of those changes. Before, it listed and watched
 * every Secret in the cluster and rebuilt the route table on each change to any of them.
 */
const ns = (name: string, yaml: string) => yaml.replace('metadata: {', `metadata: {namespace: ${name}, `);

describe('Secrets the routes use, and no others', () => {
  let stack: KubeStack<KubeSimProc>;
  let k: KubeSimProc;
  let agent: AgentProc;

  const generation = async () => {
    const text = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    return Number(/^tunnel_ingress_route_table_generation (\d+)/m.exec(text)?.[1] ?? NaN);
  };
  const secretCalls = async () => {
    const { requests } = (await k.sim('/_sim/requests', undefined, 'GET')) as {
      requests: Array<{ verb: string; resource: string; user: string; namespace?: string; name?: string }>;
    };
    return requests.filter((r) => r.user === AGENT_USER && r.resource === 'secrets');
  };

  beforeAll(async () => {
    const pki = await createPki();
    stack = await startKubeStack({
      kubeSim: true,
      hosts: ['tls.test'],
      objects: [
        INGRESS_CLASS,
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n',
        'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n',
        ns('team-a', service('web', 'https', 443)),
        ns('team-a', caSecret('origin-ca', pki.caPem)),
        ns(
          'team-a',
          ingress('tls', [{ host: 'tls.test', paths: [['/', 'Prefix', 'web']] }], '', {
            'tunnel-ingress.dev/backend-protocol': 'HTTPS',
            'tunnel-ingress.dev/origin-ca-secret': 'origin-ca',
          }),
        ),
      ],
    });
    ({ k, agent } = stack);
    await waitUntil(
      async () => ((await secretCalls()).some((r) => r.verb === 'watch') ? true : undefined),
      15_000,
      'the Secret watched',
    );
  }, 60_000);

  afterAll(async () => stack?.stop());

  it('lists and watches only the referenced Secret, in its namespace', async () => {
    const calls = await secretCalls();
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(['list', 'watch']).toContain(c.verb);
      expect(c.namespace).toBe('team-a');
      expect(c.name).toBe('origin-ca');
    }
  });

  it('does not rebuild the routes for Secrets they do not use, and does for the one they do', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    const before = await generation();
    const others = [];
    for (let i = 0; i < 20; i++)
      others.push(
        ns(
          i % 2 === 0 ? 'team-a' : 'team-b',
          `apiVersion: v1\nkind: Secret\nmetadata: {name: other-${i}}\nstringData: {token: "t${i}"}\n`,
        ),
      );
    await k.apply(others.join('---\n'));
    await k.apply(others.map((o) => o.replace(/token: "t/, 'token: "changed-')).join('---\n'));
    await new Promise((r) => setTimeout(r, 2000));
    expect(await generation()).toBe(before);
    for (const c of await secretCalls()) expect(c.name).toBe('origin-ca');
    // The referenced one changes: the routes follow.
    const pki2 = await createPki();
    await k.apply(ns('team-a', caSecret('origin-ca', pki2.caPem)));
    await waitUntil(
      async () => ((await generation()) > before ? true : undefined),
      10_000,
      'a route rebuild',
    );
  });
});
