import { writeFile } from 'node:fs/promises';
import path from 'node:path';
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
import { tempDir, waitUntil } from '../helpers/processes.js';
import {
  cloudflareArgs,
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * Purge on rollout: an Ingress with `tunnel-ingress.dev/purge-on-rollout: "true"`; a cached object at
 * the edge is HIT; the Service's endpoints are replaced (a new EndpointSlice, the old one deleted, as
 * a rolling update ends); the agent's leader purges the host through edge-sim's Cloudflare API, and
 * the next request is a MISS served by the new pods. An Ingress without the annotation keeps its cache.
 */
const TOKEN = 'purge-e2e-token';
const ZONE = 'rollout.test';

describe('purge on rollout', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let v1: CountingOrigin;
  let v2: CountingOrigin;
  let tmp: { dir: string; remove(): Promise<void> };

  const visit = async (host: string, p = '/app.js') => {
    const res = await request(`${edge.publicUrl}${p}`, { headers: { host } });
    const body = await res.body.text();
    return {
      status: res.statusCode,
      cache: res.headers['cf-cache-status'],
      origin: res.headers['x-origin'],
      body,
    };
  };

  beforeAll(async () => {
    tmp = await tempDir('purge-e2e');
    const tokenFile = path.join(tmp.dir, 'api-token');
    await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
    [v1, v2] = await Promise.all([countingOrigin('v1'), countingOrigin('v2')]);
    k = await startKube();
    edge = await startEdgeSim({
      tunnels: ['k8s'],
      routes: [],
      extra: ['--api-token', TOKEN, '--zone', ZONE],
    });
    await k.apply(
      [
        INGRESS_CLASS,
        service('web'),
        slice('web-v1', 'web', v1.port, [{}]),
        service('other'),
        slice('other-v1', 'other', v1.port, [{}]),
        ingress('web', [{ host: `web.${ZONE}`, paths: [['/', 'Prefix', 'web']] }], '', {
          'tunnel-ingress.dev/purge-on-rollout': 'true',
        }),
        ingress('other', [{ host: `other.${ZONE}`, paths: [['/', 'Prefix', 'other']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(
      kubeAgentArgs(edge, 'k8s', k, [
        '--ha-connections',
        '1',
        ...cloudflareArgs(edge, tokenFile),
        '--dns-owner-id',
        'purge-e2e',
        '--dns-resync',
        '2s',
      ]),
      { waitReady: 1 },
    );
    // DNS routes the hosts to the tunnel once the leader has made the records.
    for (const host of [`web.${ZONE}`, `other.${ZONE}`])
      await waitUntil(async () => ((await visit(host)).status === 200 ? true : undefined), 20_000, host);
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await Promise.all([v1?.close(), v2?.close()]);
    await tmp?.remove();
  });

  it('purges the host once the Service endpoints are all replaced, so the next request is a MISS', async () => {
    expect((await visit(`web.${ZONE}`)).cache).toBe('HIT');
    expect((await visit(`other.${ZONE}`)).cache).toBe('HIT');
    // A rolling update: the new pods become ready beside the old, then the old go.
    await k.apply(slice('web-v2', 'web', v2.port, [{}]));
    await new Promise((r) => setTimeout(r, 500));
    expect((await visit(`web.${ZONE}`)).cache).toBe('HIT');
    await k.kubectl(['delete', 'endpointslice', 'web-v1']);
    const t0 = Date.now();
    await waitUntil(
      async () => ((await visit(`web.${ZONE}`)).cache === 'MISS' ? true : undefined),
      15_000,
      'MISS',
    );
    const after = await visit(`web.${ZONE}`);
    expect(after).toMatchObject({ cache: 'HIT', origin: 'v2' });
    expect(Date.now() - t0).toBeLessThan(15_000);
    // The refill came from the new pods.
    expect(v2.hits).toBeGreaterThan(0);
    // An Ingress that did not opt in keeps its cache.
    expect((await visit(`other.${ZONE}`)).cache).toBe('HIT');
    const events = await k.kubectl([
      'get',
      'events',
      '--field-selector',
      'reason=CachePurged',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events.stdout).toContain(`purged the edge cache for hosts web.${ZONE}`);
    const metrics = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/tunnel_ingress_cache_purges_total\{result="ok"\} 1/);
  });
});
