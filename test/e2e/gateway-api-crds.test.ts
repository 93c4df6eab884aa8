import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gatewayApiCrds } from '../helpers/gateway-api.js';
import { startKube, type KubeProc } from '../helpers/kube.js';

/**
 * The Gateway API's standard-channel CRDs, from the sigs.k8s.io/gateway-api Go module as the Gateway
 * API issue will use them, install into the test bed's real API server with kubectl, and the API
 * server then serves and validates the new kinds (kube-sim cannot hold a CRD at all).
 */
const real = inject('kube').kind === 'kube-apiserver';

describe.skipIf(!real)('Gateway API CRDs on the real API server', () => {
  let k: KubeProc;
  let crds: string;

  beforeAll(async () => {
    crds = gatewayApiCrds();
    k = await startKube();
  }, 120_000);

  afterAll(async () => {
    await k?.stop();
  });

  it('kubectl apply --server-side installs them, and the server validates a Gateway', async () => {
    const r = await k.kubectl(['apply', '--server-side', '-f', crds]);
    expect(r.stderr).toBe('');
    for (const kind of ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'referencegrants'])
      expect(r.stdout).toContain(
        `customresourcedefinition.apiextensions.k8s.io/${kind}.gateway.networking.k8s.io serverside-applied`,
      );
    const established = await k.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/httproutes.gateway.networking.k8s.io',
    ]);
    expect(established.code).toBe(0);
    const gateway = (listenerName: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: tunnel-ingress
  listeners:
    - {name: ${listenerName}, port: 80, protocol: HTTP}
`;
    expect((await k.kubectl(['apply', '-f', '-'], gateway('http'))).code).toBe(0);
    // The CRD's own schema, enforced by the server: a listener name must be a DNS label.
    const bad = await k.kubectl(['apply', '-f', '-'], gateway('Not_A_Label'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.listeners[0].name');
  });
});
