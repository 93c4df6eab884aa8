import type { IncomingMessage } from 'node:http';
import { chromium } from 'playwright-core';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { setUpGatewayApi, statusReader } from '../helpers/gateway-api.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, countingOrigin, service, slice, type CountingOrigin } from '../helpers/origins.js';
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
 * filters and a weighted split, routes and backends in a second namespace (allowedRoutes selectors,
 * ReferenceGrants), and an Ingress beside them on the same agent. The status is read with kubectl's
 * jsonpath, as a user would. kube-sim holds no CRDs, so this runs on the real one only.
 *
 * The agent watches every namespace here (as the chart deploys it), so it gets a GatewayClass
 * controllerName and an IngressClass of this test's own: other tests' objects on the shared API
 * server name other classes and stay theirs.
 */
const real = inject('kube').kind === 'kube-apiserver';

/** A kubernetes.io/tls Secret, as an HTTPS listener's certificateRefs name it. */
function tlsSecret(name: string, pki: { certPem: string; keyPem: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
type: kubernetes.io/tls
data: {tls.crt: ${b64(pki.certPem)}, tls.key: ${b64(pki.keyPem)}}
`;
}
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe.skipIf(!real)('the Gateway API through the tunnel', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let a: CountingOrigin;
  let b: CountingOrigin;
  let o: CountingOrigin;
  let wsOrigin: http.Server;
  let wss: WebSocketServer;
  let other: string;
  let tunnelHost: string;
  // A controllerName and class of this test's own: the API server is shared with other tests' agents.
  let controller: string;
  let className: string;

  const visit = async (host: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${edge.publicUrl}${path}`, { headers: { host, ...headers } });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, origin: res.headers['x-origin'] };
  };
  let status: ReturnType<typeof statusReader>;
  const jsonpath = (what: string, path: string) => status.jsonpath(what, path);
  const until = (what: string, path: string, want: string, label: string) =>
    status.until(what, path, want, label);

  beforeAll(async () => {
    [a, b, o] = await Promise.all([
      countingOrigin('origin-a'),
      countingOrigin('origin-b'),
      countingOrigin('origin-o'),
    ]);
    // A websocket origin: echoes each message with the path it was opened on.
    wsOrigin = http.createServer((_req, res) => res.writeHead(426).end());
    wss = new WebSocketServer({ server: wsOrigin });
    wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`${req.url ?? ''}:${String(m)}`)));
    await new Promise<void>((r) => wsOrigin.listen(0, POD_IP, r));
    k = await startKube();
    other = `${k.namespace}-other`;
    const ns = await k.api('POST', '/api/v1/namespaces', {
      metadata: { name: other, labels: { 'ti-test': k.namespace } },
    });
    expect(ns.status).toBe(201);
    let gatewayClass: string;
    ({ controller, className, gatewayClass } = await setUpGatewayApi(k));
    status = statusReader(k, controller);
    edge = await startEdgeSim({
      tunnels: ['gw'],
      routes: [
        'gw.test',
        'mixed.test',
        'ing.test',
        'xns.test',
        'shared.test',
        'bad-kind.test',
        'extension.test',
      ].map((h) => `${h}=gw`),
    });
    const publicPort = new URL(edge.publicUrl).port;
    const pki = await createPki({ dnsNames: ['secure.test'], caName: 'gateway test CA' });
    await k.apply(
      [
        `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: ${className}}
spec: {controller: tunnel-ingress.dev/agent}
`,
        service('svc-a'),
        service('svc-b'),
        slice('svc-a-1', 'svc-a', a.port, [{}]),
        slice('svc-b-1', 'svc-b', b.port, [{}]),
        `apiVersion: v1
kind: Service
metadata: {name: svc-ws}
spec: {ports: [{name: http, port: 80, appProtocol: kubernetes.io/ws}]}
`,
        slice('svc-ws-1', 'svc-ws', (wsOrigin.address() as AddressInfo).port, [{}]),
        gatewayClass,
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: ${className}
  listeners:
    - {name: http, port: 80, protocol: HTTP}
    - name: shared
      port: 8080
      protocol: HTTP
      hostname: shared.test
      allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {ti-test: ${k.namespace}}}}}
    - {name: tcp, port: 9000, protocol: TCP}
    - {name: https, port: 443, protocol: HTTPS, hostname: secure.test, tls: {certificateRefs: [{name: edge-cert}]}}
    - {name: https-late, port: 443, protocol: HTTPS, hostname: late.test, tls: {certificateRefs: [{name: late-cert}]}}
`,
        tlsSecret('edge-cert', pki),
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
    - matches: [{path: {type: PathPrefix, value: /echo/mirrored}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: X-Mirror-Test, value: "yes"}]}
        - type: RequestMirror
          requestMirror: {backendRef: {name: svc-b, port: 80}}
      backendRefs: [{name: svc-a, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /echo/cors}}]
      filters:
        - type: CORS
          cors: {allowOrigins: ["http://ing.test:${publicPort}"], allowMethods: [GET, PUT], allowHeaders: [x-token], exposeHeaders: [x-origin], maxAge: 60}
      backendRefs: [{name: svc-a, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /echo/closed}}]
      filters: [{type: CORS, cors: {allowOrigins: ["https://elsewhere.test"]}}]
      backendRefs: [{name: svc-a, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /socket}}]
      filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /rewritten}}}]
      backendRefs: [{name: svc-ws, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /slow}}]
      timeouts: {request: 500ms, backendRequest: 400ms}
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
metadata: {name: bad-kind}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [bad-kind.test]
  rules: [{backendRefs: [{group: "", kind: ConfigMap, name: settings}]}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: extension}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [extension.test]
  rules:
    - filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Auth, name: strict}}]
      backendRefs: [{name: svc-a, port: 80}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-listener}
spec:
  parentRefs: [{name: edge, sectionName: nope}]
  rules: [{backendRefs: [{name: svc-a, port: 80}]}]
`,
        `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing}
spec:
  ingressClassName: ${className}
  rules: [{host: ing.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: svc-b, port: {number: 80}}}}]}}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: xns}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [xns.test]
  rules:
    - matches: [{path: {type: PathPrefix, value: /granted}}]
      backendRefs: [{name: svc-o, namespace: ${other}, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /denied}}]
      backendRefs: [{name: svc-p, namespace: ${other}, port: 80}]
`,
        // The second namespace: a backend, a grant for one of its Services, and two routes of its own.
        service('svc-o').replace('metadata: {name: svc-o}', `metadata: {name: svc-o, namespace: ${other}}`),
        service('svc-p').replace('metadata: {name: svc-p}', `metadata: {name: svc-p, namespace: ${other}}`),
        slice('svc-o-1', 'svc-o', o.port, [{}]).replace(
          '  name: svc-o-1',
          `  name: svc-o-1\n  namespace: ${other}`,
        ),
        slice('svc-p-1', 'svc-p', o.port, [{}]).replace(
          '  name: svc-p-1',
          `  name: svc-p-1\n  namespace: ${other}`,
        ),
        `apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: routes-to-svc-o, namespace: ${other}}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${k.namespace}}]
  to: [{group: "", kind: Service, name: svc-o}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: guest, namespace: ${other}}
spec:
  parentRefs: [{name: edge, namespace: ${k.namespace}, sectionName: shared}]
  rules: [{backendRefs: [{name: svc-o, port: 80}]}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: elsewhere, namespace: ${other}}
spec:
  parentRefs: [{name: edge, namespace: ${k.namespace}, sectionName: shared}]
  hostnames: [elsewhere.test]
  rules: [{backendRefs: [{name: svc-o, port: 80}]}]
`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: stranger, namespace: ${other}}
spec:
  parentRefs: [{name: edge, namespace: ${k.namespace}, sectionName: http}]
  hostnames: [gw.test]
  rules: [{backendRefs: [{name: svc-o, port: 80}]}]
`,
      ].join('---\n'),
    );
    // Every namespace, as the chart deploys it; the Lease in this test's own.
    agent = await startAgent(
      kubeAgentArgs(edge, 'gw', k.agentKubeconfig, [
        '--leader-election-namespace',
        k.namespace,
        '--ingress-class',
        className,
        '--gateway-controller-name',
        controller,
      ]),
      { waitReady: 1 },
    );
    tunnelHost = `${(await edge.tunnels())[0]!.id}.cfargotunnel.com`;
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.kubectl(['delete', 'gatewayclass', className, '--ignore-not-found']);
    await k?.kubectl(['delete', 'ingressclass', className, '--ignore-not-found']);
    if (other !== undefined) await k?.api('DELETE', `/api/v1/namespaces/${other}`);
    await k?.stop();
    await Promise.all([a?.close(), b?.close(), o?.close()]);
    wss?.close();
    wsOrigin?.closeAllConnections();
    await new Promise((r) => wsOrigin?.close(r));
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
      '4',
      'attached routes',
    );
    expect(await jsonpath('gateway edge', '{.status.listeners[?(@.name=="shared")].attachedRoutes}')).toBe(
      '1',
    );
    expect(
      await jsonpath(
        'gateway edge',
        '{.status.listeners[?(@.name=="tcp")].conditions[?(@.type=="Accepted")].reason}',
      ),
    ).toBe('UnsupportedProtocol');
  });

  it("checks HTTPS listeners' certificate Secrets, and sees one created later", async () => {
    const resolved = (listener: string, field: string) =>
      `{.status.listeners[?(@.name=="${listener}")].conditions[?(@.type=="ResolvedRefs")].${field}}`;
    await until('gateway edge', resolved('https', 'status'), 'True', 'https ResolvedRefs');
    await until('gateway edge', resolved('https-late', 'reason'), 'InvalidCertificateRef', 'late: no Secret');
    expect(await jsonpath('gateway edge', resolved('https-late', 'message'))).toContain('does not exist');
    await k.apply(tlsSecret('late-cert', await createPki({ dnsNames: ['late.test'], caName: 'late CA' })));
    await until('gateway edge', resolved('https-late', 'status'), 'True', 'late: Secret there');
  });

  it('reports each route per parent: Accepted, NoMatchingParent, ResolvedRefs with its reason', async () => {
    const cond = status.cond;
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

  it('mirrors a request, body and edited headers, to the mirror backend and answers from the backend', async () => {
    const copies: Array<{ url?: string; header?: string | string[]; body: string }> = [];
    const listen = (req: IncomingMessage) => {
      const seen = { url: req.url, header: req.headers['x-mirror-test'], body: '' };
      req.on('data', (c: Buffer) => (seen.body += c.toString()));
      req.on('end', () => copies.push(seen));
    };
    b.server.on('request', listen);
    try {
      const res = await request(`${edge.publicUrl}/echo/mirrored?n=1`, {
        method: 'POST',
        headers: { host: 'gw.test' },
        body: 'copy me',
      });
      const answer = JSON.parse(await res.body.text()) as { origin: string; bodyLength: number };
      expect(answer).toMatchObject({ origin: 'origin-a', bodyLength: 7 });
      await waitUntil(async () => (copies.length > 0 ? true : undefined), 10_000, 'the mirrored copy');
      expect(copies).toEqual([{ url: '/echo/mirrored?n=1', header: 'yes', body: 'copy me' }]);
    } finally {
      b.server.off('request', listen);
    }
  });

  it('answers CORS preflights itself and adds the CORS headers, as a browser (Chromium) needs them', async () => {
    const port = new URL(edge.publicUrl).port;
    const page = `http://ing.test:${port}`;
    const pre = await request(`${edge.publicUrl}/echo/cors`, {
      method: 'OPTIONS',
      headers: {
        host: 'gw.test',
        origin: page,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'x-token',
      },
    });
    await pre.body.text();
    expect(pre.statusCode).toBe(204);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': page,
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': 'x-token',
      'access-control-max-age': '60',
    });
    const denied = await request(`${edge.publicUrl}/echo/cors`, {
      method: 'OPTIONS',
      headers: { host: 'gw.test', origin: 'http://evil.test', 'access-control-request-method': 'PUT' },
    });
    await denied.body.text();
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP *.test 127.0.0.1'],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`${page}/`);
      const cross = (url: string) =>
        tab.evaluate(async (u) => {
          try {
            const r = await fetch(u, { method: 'PUT', headers: { 'x-token': 'abc' }, body: 'x' });
            return { status: r.status, origin: r.headers.get('x-origin'), body: await r.text() };
          } catch (err) {
            return { error: String(err) };
          }
        }, url);
      const ok = await cross(`http://gw.test:${port}/echo/cors/x`);
      expect(ok).toMatchObject({ status: 200, origin: 'origin-a' });
      expect(JSON.parse((ok as { body: string }).body)).toMatchObject({ method: 'PUT', bodyLength: 1 });
      // A rule whose CORS filter does not allow this page: the browser refuses to send the request.
      const before = a.hits;
      expect(await cross(`http://gw.test:${port}/echo/closed/x`)).toMatchObject({
        error: expect.stringContaining('Failed to fetch'),
      });
      expect(a.hits).toBe(before);
    } finally {
      await browser.close();
    }
  });

  it("carries a websocket to a kubernetes.io/ws backend, through the rule's rewrite, both ways", async () => {
    const ws = new WebSocket(`${edge.publicUrl.replace('http', 'ws')}/socket/chat`, {
      headers: { host: 'gw.test' },
    });
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const got = new Promise<void>((resolve) =>
      ws.on('message', (m) => {
        replies.push(String(m));
        if (replies.length === 2) resolve();
      }),
    );
    ws.send('one');
    ws.send('two');
    await got;
    ws.close();
    expect(replies).toEqual(['/rewritten/chat:one', '/rewritten/chat:two']);
  });

  it("ends a request at its rule's timeouts with 504, and leaves a quicker one alone", async () => {
    const t0 = Date.now();
    const late = await visit('gw.test', '/slow/3000');
    expect(late.status).toBe(504);
    expect(late.body).toContain('timeout of 400 ms passed');
    expect(Date.now() - t0).toBeLessThan(2500);
    expect((await visit('gw.test', '/slow/20')).status).toBe(200);
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

  it('answers 500 for backends it cannot use, and serves nothing of a route it cannot serve as written', async () => {
    expect((await visit('mixed.test', '/missing')).status).toBe(500);
    expect((await visit('mixed.test', '/elsewhere')).status).toBe(500);
    expect((await visit('bad-kind.test', '/')).status).toBe(500);
    expect((await visit('extension.test', '/')).status).toBe(404);
  });

  it('serves an Ingress beside the Gateway routes on the same agent', async () => {
    expect((await visit('ing.test', '/')).origin).toBe('origin-b');
    expect((await visit('gw.test', '/method')).origin).toBe('origin-a');
  });
});
