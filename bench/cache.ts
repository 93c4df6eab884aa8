import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startKubeSim } from '../test/helpers/kube.js';
import { INGRESS_CLASS, countingOrigin, ingress, service, slice } from '../test/helpers/origins.js';
import { spawnTs, tempDir } from '../test/helpers/processes.js';
import { agentArgs, cloudflareArgs, kubeAgentArgs, startAgent, startEdgeSim } from '../test/helpers/stack.js';
import { fmt } from './format.js';
import { runLoad } from './load.js';

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const CONCURRENCY = 64;

/**
 * The edge cache: requests/s of a cached object answered by edge-sim (HIT) against the same object
 * fetched through the tunnel every time (an HTML path, DYNAMIC) and against the origin directly, in
 * one run; then purge-on-rollout's latency, from the API write that completes a rollout (the old
 * EndpointSlice deleted) to the first MISS at the edge.
 */
export async function benchCache(): Promise<string[]> {
  const origin = spawnTs('origin', 'examples/origin/echo-origin.ts', ['cache-origin', '0']);
  const port = (await origin.waitForMsg('origin listening')).port as number;
  const originUrl = `http://127.0.0.1:${port}`;
  const edge = await startEdgeSim({ tunnels: ['c'], routes: ['cache.bench=c'] });
  const agent = await startAgent(agentArgs(edge, 'c', originUrl, ['--protocol', 'http2']), { waitReady: 4 });
  const lines: string[] = [];
  try {
    const load = (url: string, p: string, host?: string, durationMs = DURATION_MS) =>
      runLoad({ url, path: p, host, concurrency: CONCURRENCY, durationMs });
    await load(edge.publicUrl, '/static/app.js', 'cache.bench', WARMUP_MS);
    const hit = await load(edge.publicUrl, '/static/app.js', 'cache.bench');
    await load(edge.publicUrl, '/static/app.html', 'cache.bench', WARMUP_MS);
    const tunnel = await load(edge.publicUrl, '/static/app.html', 'cache.bench');
    const direct = await load(originUrl, '/static/app.js');
    lines.push(
      '### Edge cache: HIT at edge-sim against the tunnel (64 concurrent, HTTP/2 transport, one small page)',
      '',
      '| | requests/s | p50 ms | p99 ms | errors |',
      '|---|---:|---:|---:|---:|',
      `| HIT (answered by edge-sim's cache) | ${fmt(hit.rps)} | ${fmt(hit.p50ms, 2)} | ${fmt(hit.p99ms, 2)} | ${hit.errors} |`,
      `| through the tunnel every time (DYNAMIC) | ${fmt(tunnel.rps)} | ${fmt(tunnel.p50ms, 2)} | ${fmt(tunnel.p99ms, 2)} | ${tunnel.errors} |`,
      `| the origin directly | ${fmt(direct.rps)} | ${fmt(direct.p50ms, 2)} | ${fmt(direct.p99ms, 2)} | ${direct.errors} |`,
      '',
      `HIT is ${fmt(hit.rps / tunnel.rps, 2)}× the tunnel's requests/s.`,
      '',
    );
  } finally {
    await agent.stop();
    await edge.stop();
    await origin.stop();
  }
  lines.push(...(await purgeLatency(10)));
  return lines;
}

async function purgeLatency(n: number): Promise<string[]> {
  const TOKEN = 'bench-purge-token';
  const tmp = await tempDir('bench-purge');
  const tokenFile = path.join(tmp.dir, 'token');
  await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
  const origins = await Promise.all([countingOrigin('a'), countingOrigin('b')]);
  const k = await startKubeSim();
  const edge = await startEdgeSim({
    tunnels: ['p'],
    routes: [],
    extra: ['--api-token', TOKEN, '--zone', 'purge.bench'],
  });
  const host = 'web.purge.bench';
  await k.apply(
    [
      INGRESS_CLASS,
      service('web'),
      slice('web-0', 'web', (origins[0] as { port: number }).port, [{}]),
      ingress('web', [{ host, paths: [['/', 'Prefix', 'web']] }], '', {
        'tunnel-ingress.dev/purge-on-rollout': 'true',
      }),
    ].join('---\n'),
  );
  const agent = await startAgent(
    kubeAgentArgs(edge, 'p', k.agentKubeconfig, [
      ...cloudflareArgs(edge, tokenFile),
      '--dns-owner-id',
      'bench',
      '--dns-resync',
      '2s',
    ]),
    { waitReady: 1 },
  );
  const visit = async () => {
    const res = await request(`${edge.publicUrl}/app.js`, { headers: { host } });
    await res.body.text();
    return { status: res.statusCode, cache: res.headers['cf-cache-status'] };
  };
  const samples: number[] = [];
  try {
    const t0 = performance.now();
    while ((await visit()).status !== 200) {
      if (performance.now() - t0 > 20_000) throw new Error('the host never went live');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 1; i <= n; i++) {
      await visit();
      if ((await visit()).cache !== 'HIT') throw new Error('not cached before the rollout');
      const next = origins[i % 2] as { port: number };
      await k.apply(slice(`web-${i}`, 'web', next.port, [{}]));
      await new Promise((r) => setTimeout(r, 300));
      const ns = (
        await k.api('GET', `/apis/discovery.k8s.io/v1/namespaces/${k.namespace}/endpointslices/web-${i - 1}`)
      ).status;
      if (ns !== 200) throw new Error(`slice web-${i - 1} missing`);
      const start = performance.now();
      await k.api(
        'DELETE',
        `/apis/discovery.k8s.io/v1/namespaces/${k.namespace}/endpointslices/web-${i - 1}`,
      );
      for (;;) {
        if ((await visit()).cache === 'MISS') break;
        if (performance.now() - start > 10_000) throw new Error(`rollout ${i} was never purged`);
        await new Promise((r) => setTimeout(r, 5));
      }
      samples.push(performance.now() - start);
    }
  } finally {
    await agent.stop();
    await edge.stop();
    await k.stop();
    await Promise.all(origins.map((o) => o.close()));
    await tmp.remove();
  }
  samples.sort((a, b) => a - b);
  return [
    `### Purge on rollout (${n} rollouts, kube-sim): the old EndpointSlice deleted → first MISS at the edge`,
    '',
    `- p50 **${fmt(samples[Math.floor(n / 2)] as number)} ms**, max ${fmt(samples[n - 1] as number)} ms (watch event, endpoints reconcile, the leader's purge call through the paced client, edge-sim's purge)`,
  ];
}
