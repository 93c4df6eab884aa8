import type { KubeSimProc } from '../helpers/kube.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_USER } from '../helpers/chart-rbac.js';
import { createPki } from '../../common/pki.js';
import { INGRESS_CLASS, caSecret, ingress, service } from '../helpers/origins.js';
import { startKubeStack, type KubeStack } from '../helpers/stack.js';

/**
 * A quiet watch is reconnected once per 30 s quiet period, and that is all: over two quiet minutes the
 * agent makes at most one watch request per resource per period (plus the first), and logs no
 * failure. Before, stopping the informer fired its error handler too, two starts raced, and the agent
 * logged "watch failed; restarting … The user aborted a request" hundreds of times an hour while the
 * API server saw several times the watch requests it should.
 */
const QUIET_MINUTES = 2;

describe('watch requests over two quiet minutes', () => {
  let stack: KubeStack<KubeSimProc>;

  beforeAll(async () => {
    // An HTTPS backend with a CA bundle, so that the one Secret it names is watched too.
    stack = await startKubeStack({
      kubeSim: true,
      hosts: ['quiet.test'],
      objects: [
        INGRESS_CLASS,
        service('web'),
        caSecret('origin-ca', (await createPki()).caPem),
        ingress('quiet', [{ host: 'quiet.test', paths: [['/', 'Prefix', 'web']] }], '', {
          'tunnel-ingress.dev/backend-protocol': 'HTTPS',
          'tunnel-ingress.dev/origin-ca-secret': 'origin-ca',
        }),
      ],
    });
  }, 60_000);

  afterAll(async () => stack?.stop());

  it(
    'makes one watch request per resource per quiet period, and logs no failure',
    async () => {
      await new Promise((r) => setTimeout(r, QUIET_MINUTES * 60_000 + 5_000));
      const { requests } = (await stack.k.sim('/_sim/requests', undefined, 'GET')) as {
        requests: Array<{ verb: string; resource: string; user: string }>;
      };
      const watches = new Map<string, number>();
      for (const r of requests)
        if (r.user === AGENT_USER && r.verb === 'watch')
          watches.set(r.resource, (watches.get(r.resource) ?? 0) + 1);
      for (const resource of ['ingresses', 'ingressclasses', 'services', 'endpointslices', 'secrets']) {
        const n = watches.get(resource) ?? 0;
        // the first watch, then one per 30 s quiet period: 4 in two minutes
        expect(n, resource).toBeGreaterThanOrEqual(QUIET_MINUTES * 2);
        expect(n, resource).toBeLessThanOrEqual(QUIET_MINUTES * 2 + 1);
      }
      expect(stack.agent.proc.lines.filter((l) => l.msg === 'watch failed; restarting')).toEqual([]);
    },
    QUIET_MINUTES * 60_000 + 30_000,
  );
});
