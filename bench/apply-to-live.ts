import { request } from 'undici';
import { gatewayApiCrds } from '../test/helpers/gateway-api.js';
import { kubectl, startKubeSim } from '../test/helpers/kube.js';
import { tempDir } from '../test/helpers/processes.js';
import { startControlPlane, stopControlPlane } from '../test/kube/control-plane.js';
import { podAddress } from '../test/kube/suite-target.js';
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

/**
 * The same for an HTTPRoute rule, against a real control plane of its own (kube-sim holds no CRDs):
 * `kubectl apply` of the route with one more match, to the first 200 through the edge for it. Null
 * where the test bed cannot run (no Go, no built control plane, no address an EndpointSlice takes).
 */
export async function benchGatewayApplyToLive(
  n = 50,
): Promise<{ p50: number; p99: number; max: number; kubectlMs: number } | null> {
  const ip = podAddress();
  let crds: string;
  try {
    crds = gatewayApiCrds();
  } catch {
    return null;
  }
  if (ip === null) return null;
  const tmp = await tempDir('bench-gw');
  const cp = await startControlPlane(tmp.dir);
  const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
  const origin = await countingOrigin('live', ip);
  const edge = await startEdgeSim({ tunnels: ['b'], routes: ['live.test=b'] });
  let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
  try {
    const installed = await k(['apply', '--server-side', '-f', crds]);
    if (installed.code !== 0) throw new Error(installed.stderr);
    await k([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/httproutes.gateway.networking.k8s.io',
    ]);
    const base = [
      service('app'),
      slice('app-1', 'app', origin.port, [{ ip }]),
      `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: bench}
spec: {controllerName: tunnel-ingress.dev/gateway-controller}
`,
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: bench
  listeners: [{name: http, port: 80, protocol: HTTP}]
`,
    ].join('---\n');
    const applied0 = await k(['apply', '-f', '-'], base);
    if (applied0.code !== 0) throw new Error(applied0.stderr);
    agent = await startAgent(kubeAgentArgs(edge, 'b', cp.kubeconfig), { waitReady: 1 });
    const samples: number[] = [];
    let kubectlTotal = 0;
    // One rule whose matches grow (an HTTPRoute holds at most 16 rules, a rule 64 matches).
    const matches: string[] = [];
    for (let i = 0; i < n; i++) {
      matches.push(`        - {path: {type: PathPrefix, value: /p${i}}}`);
      const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: live}
spec:
  parentRefs: [{name: edge}]
  hostnames: [live.test]
  rules:
    - backendRefs: [{name: app, port: 80}]
      matches:
${matches.join('\n')}
`;
      const t0 = performance.now();
      let refused: string | null = null;
      const applied = k(['apply', '-f', '-'], route).then((r) => {
        if (r.code !== 0) refused = r.stderr;
        return r;
      });
      for (;;) {
        if (refused !== null) throw new Error(`kubectl apply: ${refused}`);
        const res = await request(`${edge.publicUrl}/p${i}/x`, { headers: { host: 'live.test' } });
        await res.body.text();
        if (res.statusCode === 200) break;
        if (performance.now() - t0 > 10_000) throw new Error(`match /p${i} never went live`);
        await new Promise((r) => setTimeout(r, 5));
      }
      samples.push(performance.now() - t0);
      const done = await applied;
      if (done.code !== 0) throw new Error(done.stderr);
      kubectlTotal += performance.now() - t0;
    }
    samples.sort((a, b) => a - b);
    const pct = (p: number) =>
      samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] as number;
    return {
      p50: pct(0.5),
      p99: pct(0.99),
      max: samples[samples.length - 1] as number,
      kubectlMs: kubectlTotal / n,
    };
  } finally {
    await agent?.stop();
    await edge.stop();
    await origin.close();
    await stopControlPlane(tmp.dir);
    await tmp.remove();
  }
}
