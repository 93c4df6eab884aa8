import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { gatewayApiCrds } from '../helpers/gateway-api.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
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
 * The Gateway API through the tunnel, against the test bed's real API server with the standard
 * channel's CRDs installed: a GatewayClass of the agent's, a Gateway, HTTPRoutes with matches,
 * filters and a weighted split, and an Ingress beside them on the same agent. The status is read
 * with kubectl's jsonpath, as a user would. kube-sim holds no CRDs, so this runs on the real one only.
 */
const real = inject('kube').kind === 'kube-apiserver';

describe.skipIf(!real)('the Gateway API through the tunnel', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let a: CountingOrigin;
  let b: CountingOrigin;
  let tunnelHost: string;
  // A controllerName and class of this test's own: the API server is shared with other tests' agents.
  let controller: string;
  let className: string;

  const visit = async (host: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${edge.publicUrl}${path}`, { headers: { host, ...headers } });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, origin: res.headers['x-origin'] };
  };
  const jsonpath = async (what: string, path: string) =>
    (await k.kubectl(['get', ...what.split(' '), '-o', `jsonpath=${path}`])).stdout;
  const until = (what: string, path: string, want: string, label: string) =>
    waitUntil(async () => ((await jsonpath(what, path)) === want ? true : undefined), 15_000, label);

  beforeAll(async () => {
    [a, b] = await Promise.all([countingOrigin('origin-a'), countingOrigin('origin-b')]);
    k = await startKube();
    const crds = await k.kubectl(['apply', '--server-side', '-f', gatewayApiCrds()]);
    expect(crds.code).toBe(0);
    await k.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/httproutes.gateway.networking.k8s.io',
    ]);
    controller = `tunnel-ingress.dev/test-${k.namespace}`;
    className = `ti-${k.namespace}`;
    edge = await startEdgeSim({ tunnels: ['gw'], routes: ['gw.test=gw', 'mixed.test=gw', 'ing.test=gw'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('svc-a'),
        service('svc-b'),
        slice('svc-a-1', 'svc-a', a.port, [{}]),
        slice('svc-b-1', 'svc-b', b.port, [{}]),
        `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: ${className}}
spec: {controllerName: ${controller}}
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: ${className}
  listeners:
    - {name: http, port: 80, protocol: HTTP}
    - {name: tcp, port: 9000, protocol: TCP}
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [gw.test]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}, headers: [{name: X-Canary, value: "yes"}]}]
      backendRefs: [{name: svc-b, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /echo}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: X-Set, value: by-route}], add: [{name: X-Add, value: two}], remove: [X-Gone]}
        - type: ResponseHeaderModifier
          responseHeaderModifier: {add: [{name: X-Served-By, value: gateway}]}
      backendRefs: [{name: svc-a, port: 80}]
    - matches: [{path: {type: Exact, value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 301}}]
    - matches: [{path: {type: PathPrefix, value: /strip}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /echo}}}]
      backendRefs: [{name: svc-a, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /split}}]
      backendRefs: [{name: svc-a, port: 80, weight: 3}, {name: svc-b, port: 80, weight: 1}]
    - matches: [{path: {type: PathPrefix, value: /method}, method: POST}]
      backendRefs: [{name: svc-b, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /method}}]
      backendRefs: [{name: svc-a, port: 80}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: refs}
spec:
  parentRefs: [{name: edge}]
  hostnames: [mixed.test]
  rules:
    - matches: [{path: {type: PathPrefix, value: /missing}}]
      backendRefs: [{name: no-such-service, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /elsewhere}}]
      backendRefs: [{name: svc-a, namespace: default, port: 80}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-listener}
spec:
  parentRefs: [{name: edge, sectionName: nope}]
  rules: [{backendRefs: [{name: svc-a, port: 80}]}]
`,
        ingress('ing', [{ host: 'ing.test', paths: [['/', 'Prefix', 'svc-b']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(kubeAgentArgs(edge, 'gw', k, ['--gateway-controller-name', controller]), {
      waitReady: 1,
    });
    tunnelHost = `${(await edge.tunnels())[0]!.id}.cfargotunnel.com`;
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.kubectl(['delete', 'gatewayclass', className, '--ignore-not-found']);
    await k?.stop();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('accepts its GatewayClass and lists the features it supports', async () => {
    await until(
      `gatewayclass ${className}`,
      '{.status.conditions[?(@.type=="Accepted")].status}',
      'True',
      'Accepted',
    );
    const features = await jsonpath(`gatewayclass ${className}`, '{.status.supportedFeatures[*].name}');
    expect(features.split(' ')).toEqual(expect.arrayContaining(['Gateway', 'HTTPRoute', 'ReferenceGrant']));
    expect(features.split(' ')).toEqual([...features.split(' ')].sort());
  });

  it("programs the Gateway at the tunnel's hostname, with per-listener conditions and attached routes", async () => {
    await until('gateway edge', '{.status.conditions[?(@.type=="Programmed")].status}', 'True', 'Programmed');
    expect(await jsonpath('gateway edge', '{.status.addresses[0].value}')).toBe(tunnelHost);
    expect(await jsonpath('gateway edge', '{.status.conditions[?(@.type=="Accepted")].status}')).toBe('True');
    const gen = await jsonpath('gateway edge', '{.metadata.generation}');
    expect(
      await jsonpath('gateway edge', '{.status.conditions[?(@.type=="Accepted")].observedGeneration}'),
    ).toBe(gen);
    await until(
      'gateway edge',
      '{.status.listeners[?(@.name=="http")].attachedRoutes}',
      '2',
      'attached routes',
    );
    expect(
      await jsonpath(
        'gateway edge',
        '{.status.listeners[?(@.name=="tcp")].conditions[?(@.type=="Accepted")].reason}',
      ),
    ).toBe('UnsupportedProtocol');
  });

  it('reports each route per parent: Accepted, NoMatchingParent, ResolvedRefs with its reason', async () => {
    const cond = (type: string, field: string) =>
      `{.status.parents[?(@.controllerName=="${controller}")].conditions[?(@.type=="${type}")].${field}}`;
    await until('httproute web', cond('Accepted', 'status'), 'True', 'web Accepted');
    expect(await jsonpath('httproute web', cond('ResolvedRefs', 'reason'))).toBe('ResolvedRefs');
    await until('httproute refs', cond('ResolvedRefs', 'reason'), 'BackendNotFound', 'refs ResolvedRefs');
    expect(await jsonpath('httproute refs', cond('Accepted', 'status'))).toBe('True');
    await until(
      'httproute wrong-listener',
      cond('Accepted', 'reason'),
      'NoMatchingParent',
      'NoMatchingParent',
    );
  });

  it('routes by header, method and path, and applies the header filters both ways', async () => {
    await waitUntil(
      async () => ((await visit('gw.test', '/split')).status === 200 ? true : undefined),
      15_000,
      'routes',
    );
    expect((await visit('gw.test', '/anything', { 'x-canary': 'yes' })).origin).toBe('origin-b');
    expect((await visit('gw.test', '/anything')).status).toBe(404);
    expect((await visit('gw.test', '/method')).origin).toBe('origin-a');
    const post = await request(`${edge.publicUrl}/method`, {
      method: 'POST',
      headers: { host: 'gw.test' },
      body: 'x',
    });
    await post.body.text();
    expect(post.headers['x-origin']).toBe('origin-b');
    const echo = await visit('gw.test', '/echo/x', { 'x-set': 'visitor', 'x-add': 'one', 'x-gone': 'bye' });
    expect(echo.headers['x-served-by']).toBe('gateway');
    const seen = JSON.parse(echo.body) as { headers: Record<string, string> };
    expect(seen.headers).toMatchObject({ 'x-set': 'by-route', 'x-add': 'one,two' });
    expect(seen.headers['x-gone']).toBeUndefined();
  });

  it('redirects and rewrites', async () => {
    const r = await visit('gw.test', '/old');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://gw.test/new');
    const rw = await visit('gw.test', '/strip/deep?q=1');
    expect((JSON.parse(rw.body) as { url: string }).url).toBe('/echo/deep?q=1');
  });

  it('splits traffic by weight: 3:1 within 5 % over 2,000 requests', async () => {
    const before = { a: a.hits, b: b.hits };
    for (let i = 0; i < 2000; i++) {
      const r = await visit('gw.test', '/split');
      expect(r.status).toBe(200);
    }
    const toA = (a.hits - before.a) / 2000;
    expect(b.hits - before.b + (a.hits - before.a)).toBe(2000);
    expect(Math.abs(toA - 0.75)).toBeLessThan(0.05);
  });

  it('answers 500 for backends it cannot use (missing, another namespace without a ReferenceGrant)', async () => {
    expect((await visit('mixed.test', '/missing')).status).toBe(500);
    expect((await visit('mixed.test', '/elsewhere')).status).toBe(500);
  });

  it('serves an Ingress beside the Gateway routes on the same agent', async () => {
    expect((await visit('ing.test', '/')).origin).toBe('origin-b');
    expect((await visit('gw.test', '/method')).origin).toBe('origin-a');
  });
});
