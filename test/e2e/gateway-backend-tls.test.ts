import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { handle } from '../../examples/origin/echo-origin.js';
import { setUpGatewayApi, statusReader } from '../helpers/gateway-api.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, slice } from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * BackendTLSPolicy through the tunnel, against the real API server with the standard channel's CRDs:
 * an HTTPS origin whose certificate a private CA signed for `backend.internal`, the CA in a ConfigMap,
 * and policies that verify it by hostname, by subjectAltNames, with the wrong hostname (the
 * connection fails: 502), and with a ConfigMap that does not exist (no valid CA: 500, and the
 * policy's status says why). Statuses read with kubectl's jsonpath.
 */
const real = inject('kube').kind === 'kube-apiserver';

function tlsService(name: string): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {ports: [{name: https, port: 443}]}
`;
}

function policy(name: string, service: string, validation: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ${name}}
spec:
  targetRefs: [{group: "", kind: Service, name: ${service}}]
  validation: ${validation}
`;
}

describe.skipIf(!real)('BackendTLSPolicy through the tunnel', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: https.Server;
  let controller: string;
  let className: string;
  let status: ReturnType<typeof statusReader>;
  const jsonpath = (what: string, path: string) => status.jsonpath(what, path);
  const visit = async (path: string) => {
    const res = await request(`${edge.publicUrl}${path}`, { headers: { host: 'tls.test' } });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const ours = (type: string, field: string) => status.cond(type, field);

  beforeAll(async () => {
    const pki = await createPki({ dnsNames: ['backend.internal'], caName: 'backend CA' });
    origin = https.createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) =>
      handle('tls-origin', req, res),
    );
    await new Promise<void>((r) => origin.listen(0, POD_IP, r));
    const port = (origin.address() as AddressInfo).port;
    k = await startKube();
    let gatewayClass: string;
    ({ controller, className, gatewayClass } = await setUpGatewayApi(k, 'backendtlspolicies'));
    status = statusReader(k, controller, 'ancestors');
    edge = await startEdgeSim({ tunnels: ['t'], routes: ['tls.test=t'] });
    const caConfigMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: backend-ca}
data:
  ca.crt: |
${pki.caPem
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
    await k.apply(
      [
        ...['good', 'sans', 'wrong', 'nocm'].flatMap((s) => [
          tlsService(`svc-${s}`),
          slice(`svc-${s}-1`, `svc-${s}`, port, [{}], 'https'),
        ]),
        caConfigMap,
        policy(
          'good',
          'svc-good',
          '{caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}], hostname: backend.internal}',
        ),
        policy(
          'sans',
          'svc-sans',
          '{caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}], hostname: sni.only, subjectAltNames: [{type: Hostname, hostname: backend.internal}]}',
        ),
        policy(
          'wrong',
          'svc-wrong',
          '{caCertificateRefs: [{group: "", kind: ConfigMap, name: backend-ca}], hostname: other.internal}',
        ),
        policy(
          'nocm',
          'svc-nocm',
          '{caCertificateRefs: [{group: "", kind: ConfigMap, name: no-such-ca}], hostname: backend.internal}',
        ),
        gatewayClass,
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: ${className}
  listeners: [{name: http, port: 80, protocol: HTTP}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: tls}
spec:
  parentRefs: [{name: edge}]
  hostnames: [tls.test]
  rules:
${['good', 'sans', 'wrong', 'nocm']
  .map(
    (s) => `    - matches: [{path: {type: PathPrefix, value: /${s}}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /echo}}}]
      backendRefs: [{name: svc-${s}, port: 443}]`,
  )
  .join('\n')}
`,
      ].join('---\n'),
    );
    agent = await startAgent(
      kubeAgentArgs(edge, 't', k.agentKubeconfig, [
        '--leader-election-namespace',
        k.namespace,
        '--ingress-class',
        className,
        '--gateway-controller-name',
        controller,
      ]),
      { waitReady: 1 },
    );
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.kubectl(['delete', 'gatewayclass', className, '--ignore-not-found']);
    await k?.stop();
    origin?.closeAllConnections();
    await new Promise((r) => origin?.close(r));
  });

  it('speaks TLS to the Service, verified against the ConfigMap CA by hostname or subjectAltNames', async () => {
    await waitUntil(
      async () => ((await visit('/good')).status === 200 ? true : undefined),
      15_000,
      'TLS route',
    );
    const good = JSON.parse((await visit('/good')).body) as { origin: string; url: string };
    expect(good).toMatchObject({ origin: 'tls-origin', url: '/echo' });
    expect((await visit('/sans')).status).toBe(200);
  });

  it('fails the connection when the certificate does not match the policy (502)', async () => {
    expect((await visit('/wrong')).status).toBe(502);
  });

  it('answers 500 without a valid CA, and reports each policy per Gateway', async () => {
    expect((await visit('/nocm')).status).toBe(500);
    const until = (what: string, path: string, want: string) => status.until(what, path, want);
    await until('backendtlspolicy good', ours('Accepted', 'status'), 'True');
    expect(await jsonpath('backendtlspolicy good', ours('ResolvedRefs', 'status'))).toBe('True');
    expect(
      await jsonpath(
        'backendtlspolicy good',
        `{.status.ancestors[?(@.controllerName=="${controller}")].ancestorRef.name}`,
      ),
    ).toBe('edge');
    await until('backendtlspolicy nocm', ours('Accepted', 'reason'), 'NoValidCACertificate');
    expect(await jsonpath('backendtlspolicy nocm', ours('ResolvedRefs', 'reason'))).toBe(
      'InvalidCACertificateRef',
    );
    expect(await jsonpath('backendtlspolicy nocm', ours('ResolvedRefs', 'message'))).toContain(
      'does not exist',
    );
  });
});
