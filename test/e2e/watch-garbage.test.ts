import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeSim, type KubeSimProc } from '../helpers/kube.js';
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

/**
 * kube-sim answering garbage, then bodies cut off mid-way, to the Ingress watch right after every watch
 * was dropped. A cut-off watch leaves client-node waiting for ever; the agent must keep serving its
 * last routes and, once the answers are good, pick up new Ingresses (it reconnects a watch that has
 * been quiet for 30 s).
 */
describe('garbage and cut-off answers from kube-sim', () => {
  let k: KubeSimProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;

  const visit = async (host: string) => {
    const r = await request(`${edge.publicUrl}/echo`, { headers: { host } });
    await r.body.text();
    return r.statusCode;
  };

  beforeAll(async () => {
    origin = await countingOrigin('watch-origin');
    k = await startKubeSim();
    edge = await startEdgeSim({ tunnels: ['w'], routes: ['one.test=w', 'two.test=w'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('web'),
        slice('web-1', 'web', origin.port, [{}]),
        ingress('one', [{ host: 'one.test', paths: [['/', 'Prefix', 'web']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'w', k, ['--ha-connections', '1']), {
      waitReady: 1,
    });
    await waitUntil(async () => ((await visit('one.test')) === 200 ? true : undefined), 10_000, 'one.test');
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
  });

  it('keeps the last routes, then catches up', async () => {
    await k.sim('/_sim/faults', [
      { pathPrefix: '/apis/networking.k8s.io/v1/ingresses', garbage: true, count: 2 },
      { pathPrefix: '/apis/networking.k8s.io/v1/ingresses', truncate: true, count: 2 },
    ]);
    await k.sim('/_sim/drop-watches', {});
    for (let i = 0; i < 20; i++) {
      expect(await visit('one.test')).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
    }
    await k.apply(ingress('two', [{ host: 'two.test', paths: [['/', 'Prefix', 'web']] }]));
    await waitUntil(
      async () => ((await visit('two.test')) === 200 ? true : undefined),
      // a cut-off watch ends at once (agent/kube/kube-watch.ts), not at the 30 s quiet timer
      10_000,
      'two.test routed',
    );
    expect(await visit('one.test')).toBe(200);
    expect(agent.proc.child.exitCode).toBeNull();
  }, 30_000);
});
