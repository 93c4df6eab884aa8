import { request } from 'undici';
import { startKubeSim } from '../test/helpers/kube.js';
import { INGRESS_CLASS, countingOrigin, ingress, service, slice } from '../test/helpers/origins.js';
import { kubeAgentArgs, startAgent, startEdgeSim } from '../test/helpers/stack.js';

/**
 * Time from `kubectl apply` of an Ingress path to the first 200 through the edge for it, over `n`
 * applies, each adding one path. The clock starts when kubectl is launched.
 */
export async function benchApplyToLive(
  n = 50,
): Promise<{ p50: number; p99: number; max: number; kubectlMs: number }> {
  const origin = await countingOrigin('live');
  const k = await startKubeSim();
  const edge = await startEdgeSim({ tunnels: ['b'], routes: ['live.test=b'] });
  await k.kubectl(
    ['apply', '-f', '-'],
    [INGRESS_CLASS, service('app'), slice('app-1', 'app', origin.port, [{}])].join('---\n'),
  );
  const agent = await startAgent(kubeAgentArgs(edge, 'b', k.agentKubeconfig), { waitReady: 1 });
  const samples: number[] = [];
  let kubectlTotal = 0;
  try {
    const paths: Array<[string, string, string]> = [];
    for (let i = 0; i < n; i++) {
      paths.push([`/p${i}`, 'Prefix', 'app']);
      const t0 = performance.now();
      const applied = k.kubectl(['apply', '-f', '-'], ingress('live', [{ host: 'live.test', paths }]));
      for (;;) {
        const res = await request(`${edge.publicUrl}/p${i}/x`, { headers: { host: 'live.test' } });
        await res.body.text();
        if (res.statusCode === 200) break;
        if (performance.now() - t0 > 10_000) throw new Error(`path /p${i} never went live`);
        await new Promise((r) => setTimeout(r, 5));
      }
      samples.push(performance.now() - t0);
      await applied;
      kubectlTotal += performance.now() - t0;
    }
  } finally {
    await agent.stop();
    await edge.stop();
    await k.stop();
    await origin.close();
  }
  samples.sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] as number;
  return {
    p50: pct(0.5),
    p99: pct(0.99),
    max: samples[samples.length - 1] as number,
    kubectlMs: kubectlTotal / n,
  };
}
