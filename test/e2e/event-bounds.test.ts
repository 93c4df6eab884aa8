import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeSimProc } from '../helpers/kube.js';
import { INGRESS_CLASS, ingress, service } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import { startKubeStack, type AgentProc, type KubeStack } from '../helpers/stack.js';

/**
 * A tenant cannot grow the leader or flood the API server with Events: patching a 200 KB invalid
 * annotation 300 times gives at most a burst of 25 Events, each message cut to the API server's
 * 1,024 bytes with a marker. And Events for a namespace that has gone are dropped quietly.
 */
interface EventItem {
  reason: string;
  message: string;
  involvedObject: { name: string };
}

describe('Event bounds', () => {
  let stack: KubeStack<KubeSimProc>;
  let k: KubeSimProc;
  let agent: AgentProc;

  const eventsFor = async (namespace: string, name: string) => {
    const res = await k.api('GET', `/api/v1/namespaces/${namespace}/events`);
    return (res.body as { items: EventItem[] }).items.filter((e) => e.involvedObject.name === name);
  };

  beforeAll(async () => {
    stack = await startKubeStack({
      kubeSim: true,
      hosts: ['big.test'],
      objects: [
        INGRESS_CLASS,
        service('web'),
        ingress('big', [{ host: 'big.test', paths: [['/', 'Prefix', 'web']] }]),
      ],
    });
    ({ k, agent } = stack);
  }, 60_000);

  afterAll(async () => stack?.stop());

  it('writes at most a burst of 25 Events for 300 patches of a 200 KB annotation, each cut to 1,024 bytes', async () => {
    for (let i = 0; i < 300; i++) {
      const res = await k.api(
        'PATCH',
        '/apis/networking.k8s.io/v1/namespaces/default/ingresses/big',
        {
          metadata: { annotations: { 'tunnel-ingress.dev/connect-timeout': `${i}-${'x'.repeat(200_000)}` } },
        },
        'application/merge-patch+json',
      );
      expect(res.status).toBe(200);
    }
    // The last value reaches the agent: its route table reports it.
    await waitUntil(
      async () => {
        const items = await eventsFor('default', 'big');
        return items.some((e) => e.reason === 'InvalidAnnotation') ? true : undefined;
      },
      15_000,
      'an InvalidAnnotation Event',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const invalid = (await eventsFor('default', 'big')).filter((e) => e.reason === 'InvalidAnnotation');
    expect(invalid.length).toBeGreaterThan(0);
    expect(invalid.length).toBeLessThanOrEqual(25);
    for (const e of invalid) {
      expect(Buffer.byteLength(e.message)).toBeLessThanOrEqual(1024);
      expect(e.message.endsWith(' … [truncated]')).toBe(true);
    }
  }, 120_000);

  it('drops Events for a namespace being deleted quietly, once the API server says so', async () => {
    // kube-sim removes a namespace at once; the API server keeps it Terminating while its objects go,
    // and refuses new Events there with 403 and the cause NamespaceTerminating. That answer is injected.
    await k.apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: doomed}\n');
    await k.sim('/_sim/faults', [
      {
        method: 'POST',
        pathPrefix: '/api/v1/namespaces/doomed/events',
        status: 403,
        reason: 'Forbidden',
        message:
          'events "x" is forbidden: unable to create new content in namespace doomed because it is being terminated',
        cause: 'NamespaceTerminating',
        count: 100,
      },
    ]);
    const attempts = async () =>
      100 -
      ((await k.sim('/_sim/faults', undefined, 'GET')) as { faults: Array<{ count: number }> }).faults[0]!
        .count;
    // Two Ingresses with problems in the terminating namespace.
    for (const name of ['gone-a', 'gone-b'])
      await k.apply(
        ingress(name, [{ host: `${name}.test`, paths: [['/', 'Prefix', 'web']] }], '', {
          'tunnel-ingress.dev/connect-timeout': 'soon',
        }).replace('metadata: {', 'metadata: {namespace: doomed, '),
      );
    await new Promise((r) => setTimeout(r, 3000));
    expect(agent.proc.lines.filter((l) => l.msg === 'could not write an Event')).toEqual([]);
    // The first refusal is remembered: the other Ingress's Event is not even tried.
    expect(await attempts()).toBe(1);
    await k.sim('/_sim/faults', undefined, 'DELETE');
  });
});
