import type http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { addIngressRoutes } from '../routing/ingress-routes.js';
import { routeResolver, type Resolution } from '../routing/resolvers.js';
import { RouteTableBuilder } from '../routing/route-table-builder.js';
import { pickWeighted, type RuleAction } from '../routing/rule-action.js';
import { ServiceBackends } from '../routing/service-backends.js';
import type { Ingress, Service } from '../routing/types.js';
import type {
  BackendTLSPolicy,
  Gateway,
  GRPCRoute,
  GRPCRouteRule,
  HTTPRoute,
  HTTPRouteRule,
  Listener,
  ReferenceGrant,
} from './gateway-types.js';
import { addGatewayRoutes, type OurGateway } from './gateway-routes.js';
import { intersectHostnames, listenersOf } from './listener-attachment.js';

let clock = 0;
const created = () => new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString();

function gateway(name: string, listeners: Listener[], ns = 'infra'): OurGateway {
  const gw: Gateway = {
    metadata: { name, namespace: ns },
    spec: { gatewayClassName: 'tunnel-ingress', listeners },
  };
  return { key: `${ns}/${name}`, namespace: ns, gateway: gw, listeners: listenersOf(gw) };
}

const ALL: Listener = {
  name: 'http',
  port: 80,
  protocol: 'HTTP',
  allowedRoutes: { namespaces: { from: 'All' } },
};

function route(
  name: string,
  rules: HTTPRouteRule[],
  opts: { ns?: string; hostnames?: string[]; parent?: Record<string, unknown> } = {},
): HTTPRoute {
  return {
    metadata: { name, namespace: opts.ns ?? 'app', creationTimestamp: created(), generation: 1 },
    spec: {
      parentRefs: [{ name: 'edge', namespace: 'infra', ...opts.parent }],
      ...(opts.hostnames === undefined ? {} : { hostnames: opts.hostnames }),
      rules,
    },
  };
}

const to = (service: string, extra: Record<string, unknown> = {}) => ({ name: service, port: 80, ...extra });

function svc(name: string, ns = 'app', appProtocol?: string): Service {
  return {
    metadata: { name, namespace: ns },
    spec: { ports: [{ port: 80, ...(appProtocol === undefined ? {} : { appProtocol }) }] },
  };
}

const SERVICES = ['a', 'b', 'c', 'd', 'e']
  .map((n) => svc(n))
  .concat([
    svc('other', 'elsewhere'),
    svc('h2', 'app', 'kubernetes.io/h2c'),
    svc('wss', 'app', 'kubernetes.io/wss'),
  ]);

function compile(
  routes: HTTPRoute[],
  opts: {
    gateways?: OurGateway[];
    grants?: ReferenceGrant[];
    ingresses?: Ingress[];
    grpcRoutes?: GRPCRoute[];
    tlsPolicies?: BackendTLSPolicy[];
    configMaps?: Record<string, Record<string, string> | 'pending'>;
    labels?: Record<string, Record<string, string>>;
  } = {},
) {
  const builder = new RouteTableBuilder();
  const backends = new ServiceBackends(
    new Map(SERVICES.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s])),
  );
  const ing = addIngressRoutes(opts.ingresses ?? [], builder, backends, () => undefined);
  const gws = opts.gateways ?? [gateway('edge', [ALL])];
  const { outcomes, sources, policies } = addGatewayRoutes(
    {
      gateways: new Map(gws.map((g) => [g.key, g])),
      httpRoutes: routes,
      grpcRoutes: opts.grpcRoutes ?? [],
      tlsPolicies: opts.tlsPolicies ?? [],
      configMaps: (ns, name) => opts.configMaps?.[`${ns}/${name}`],
      grants: opts.grants ?? [],
      namespaceLabels: (ns) => opts.labels?.[ns],
    },
    builder,
    backends,
  );
  for (const spec of backends.upstreams.values()) {
    const address = `10.0.0.${spec.upstream.service.length}`;
    spec.upstream.setEndpoints([
      { address, port: 80, origin: `http://${address}:80`, tlsOrigin: `https://${address}:80` },
    ]);
  }
  const table = builder.build(1, ing.defaultBackend, [...ing.sources, ...sources]);
  const resolve = routeResolver(() => table);
  const ask = (host: string, path: string, method = 'GET', headers: http2.IncomingHttpHeaders = {}) =>
    resolve(host, path, method, headers);
  return { table, outcomes, ask, policies };
}

/** Which Service a resolution goes to ('a'…), or its status. */
function where(r: Resolution): string | number {
  if ('status' in r) return r.status;
  return r.upstream?.service ?? '?';
}

const prefix = (value: string) => ({ path: { type: 'PathPrefix', value } });
const exact = (value: string) => ({ path: { type: 'Exact', value } });

describe('HTTPRoute matches', () => {
  it('matches paths: Exact, PathPrefix by element (a trailing slash ignored), RegularExpression in full', () => {
    const { ask } = compile([
      route('r', [
        { matches: [exact('/exact')], backendRefs: [to('a')] },
        { matches: [prefix('/pre/')], backendRefs: [to('b')] },
        {
          matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+/items' } }],
          backendRefs: [to('c')],
        },
      ]),
    ]);
    expect(where(ask('h.test', '/exact'))).toBe('a');
    expect(where(ask('h.test', '/exact/'))).toBe(404);
    expect(where(ask('h.test', '/pre'))).toBe('b');
    expect(where(ask('h.test', '/pre/x/y'))).toBe('b');
    expect(where(ask('h.test', '/prefix'))).toBe(404);
    expect(where(ask('h.test', '/v12/items'))).toBe('c');
    expect(where(ask('h.test', '/v12/items/more'))).toBe(404);
    expect(where(ask('h.test', '/v12/items?x=1'))).toBe('c');
  });

  it('matches headers (name without case, Exact or RE2), query parameters and the method, all of them', () => {
    const { ask } = compile([
      route('r', [
        {
          matches: [
            {
              path: { type: 'PathPrefix', value: '/' },
              headers: [
                { name: 'X-Env', value: 'canary' },
                { name: 'x-env', value: 'ignored: the first entry for a name counts' },
                { name: 'X-Build', type: 'RegularExpression', value: 'b[0-9]+' },
              ],
              queryParams: [{ name: 'Debug', value: 'on' }],
              method: 'POST',
            },
          ],
          backendRefs: [to('a')],
        },
        { backendRefs: [to('b')] },
      ]),
    ]);
    const all = { 'x-env': 'canary', 'x-build': 'b42' };
    expect(where(ask('h.test', '/x?Debug=on', 'POST', all))).toBe('a');
    expect(where(ask('h.test', '/x?Debug=on&Debug=off', 'POST', all))).toBe('a');
    expect(where(ask('h.test', '/x?debug=on', 'POST', all))).toBe('b'); // query names keep their case
    expect(where(ask('h.test', '/x?Debug=on', 'GET', all))).toBe('b');
    expect(where(ask('h.test', '/x?Debug=on', 'POST', { ...all, 'x-build': 'b42x' }))).toBe('b');
    expect(where(ask('h.test', '/x?Debug=on', 'POST', { 'x-build': 'b42' }))).toBe('b');
  });

  it('runs regular expressions in linear time: a pattern that backtracks for ever in JavaScript does not here', () => {
    const { ask } = compile([
      route('r', [
        { matches: [{ path: { type: 'RegularExpression', value: '/(a+)+$' } }], backendRefs: [to('a')] },
      ]),
    ]);
    expect(where(ask('h.test', `/${'a'.repeat(50_000)}b`))).toBe(404);
    expect(where(ask('h.test', `/${'a'.repeat(50_000)}`))).toBe('a');
  });
});

describe('precedence', () => {
  it('orders matches as the API says: Exact, longest prefix, method, most headers, most query parameters', () => {
    const { ask } = compile([
      route('r', [
        { matches: [prefix('/api')], backendRefs: [to('a')] },
        {
          matches: [{ ...prefix('/api'), queryParams: [{ name: 'q', value: '1' }] }],
          backendRefs: [to('b')],
        },
        { matches: [{ ...prefix('/api'), headers: [{ name: 'h', value: '1' }] }], backendRefs: [to('c')] },
        { matches: [{ ...prefix('/api'), method: 'PUT' }], backendRefs: [to('d')] },
        { matches: [prefix('/api/v1'), exact('/api')], backendRefs: [to('e')] },
      ]),
    ]);
    expect(where(ask('h.test', '/api'))).toBe('e'); // Exact first
    expect(where(ask('h.test', '/api/v1/x', 'PUT', { h: '1' }))).toBe('e'); // the longer prefix
    expect(where(ask('h.test', '/api/x?q=1', 'PUT', { h: '1' }))).toBe('d'); // then the method
    expect(where(ask('h.test', '/api/x?q=1', 'GET', { h: '1' }))).toBe('c'); // then headers
    expect(where(ask('h.test', '/api/x?q=1'))).toBe('b'); // then query parameters
    expect(where(ask('h.test', '/api/x'))).toBe('a');
  });

  it('breaks ties by the older route, then namespace/name, then the first rule', () => {
    const newer = route('aaa', [{ matches: [prefix('/')], backendRefs: [to('b')] }]);
    const older = route('zzz', [{ matches: [prefix('/')], backendRefs: [to('a')] }]);
    older.metadata!.creationTimestamp = '2025-01-01T00:00:00Z';
    expect(where(compile([newer, older]).ask('h.test', '/'))).toBe('a');
    const same = '2025-06-01T00:00:00Z';
    const x = route('x', [{ backendRefs: [to('c')] }]);
    const y = route('y', [{ backendRefs: [to('d')] }]);
    x.metadata!.creationTimestamp = same;
    y.metadata!.creationTimestamp = same;
    expect(where(compile([y, x]).ask('h.test', '/'))).toBe('c');
    const twoRules = route('t', [{ backendRefs: [to('e')] }, { backendRefs: [to('a')] }]);
    expect(where(compile([twoRules]).ask('h.test', '/'))).toBe('e');
  });

  it('prefers an exact hostname to a wildcard and falls through to less specific hostnames', () => {
    const { ask } = compile([
      route('exact', [{ matches: [prefix('/only')], backendRefs: [to('a')] }], {
        hostnames: ['foo.example.com'],
      }),
      route('wild', [{ backendRefs: [to('b')] }], { hostnames: ['*.example.com'] }),
      route('any', [{ backendRefs: [to('c')] }]),
    ]);
    expect(where(ask('foo.example.com', '/only/x'))).toBe('a');
    expect(where(ask('foo.example.com', '/else'))).toBe('b'); // the Gateway API falls through
    expect(where(ask('a.b.example.com', '/'))).toBe('b'); // a Gateway wildcard spans labels
    expect(where(ask('example.com', '/'))).toBe('c');
  });
});

describe('attachment and status', () => {
  it('intersects listener and route hostnames', () => {
    expect(intersectHostnames('a.example.com', '*.example.com')).toBe('a.example.com');
    expect(intersectHostnames('*.example.com', 'a.example.com')).toBe('a.example.com');
    expect(intersectHostnames('*.com', '*.example.com')).toBe('*.example.com');
    expect(intersectHostnames('example.com', '*.example.com')).toBeNull();
    expect(intersectHostnames('a.example.net', '*.example.com')).toBeNull();
    const gw = gateway('edge', [{ ...ALL, hostname: '*.example.com' }]);
    const { ask, outcomes } = compile(
      [route('r', [{ backendRefs: [to('a')] }], { hostnames: ['a.example.com', 'a.example.net'] })],
      { gateways: [gw] },
    );
    expect(where(ask('a.example.com', '/'))).toBe('a');
    expect(where(ask('a.example.net', '/'))).toBe(404);
    expect(outcomes[0]?.parents[0]?.accepted).toMatchObject({ status: true, reason: 'Accepted' });
    const none = compile([route('r', [{ backendRefs: [to('a')] }], { hostnames: ['x.example.net'] })], {
      gateways: [gw],
    });
    expect(none.outcomes[0]?.parents[0]?.accepted).toMatchObject({
      status: false,
      reason: 'NoMatchingListenerHostname',
    });
    expect(where(none.ask('x.example.net', '/'))).toBe(404);
  });

  it('lets routes attach as allowedRoutes says: Same, All, Selector; by sectionName and port', () => {
    const gw = gateway('edge', [
      { name: 'same', port: 80, protocol: 'HTTP', hostname: 'same.test' },
      {
        name: 'picked',
        port: 8080,
        protocol: 'HTTP',
        hostname: 'picked.test',
        allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'web' } } } },
      },
    ]);
    const r = (name: string, ns: string, parent: Record<string, unknown> = {}) =>
      route(name, [{ backendRefs: [to('other', { namespace: 'elsewhere' })] }], { ns, parent });
    const grants: ReferenceGrant[] = [
      {
        metadata: { name: 'g', namespace: 'elsewhere' },
        spec: {
          from: [
            { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'infra' },
            { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'web' },
          ],
          to: [{ group: '', kind: 'Service' }],
        },
      },
    ];
    const { outcomes, ask } = compile(
      [
        r('in-infra', 'infra', { sectionName: 'same' }),
        r('in-web', 'web', { sectionName: 'picked' }),
        r('in-app', 'app'),
        r('no-such-listener', 'infra', { sectionName: 'nope' }),
        r('wrong-port', 'infra', { sectionName: 'same', port: 8080 }),
      ],
      { gateways: [gw], grants, labels: { web: { team: 'web' }, app: { team: 'app' } } },
    );
    const reason = (name: string) =>
      outcomes.find((o) => o.key.endsWith(`/${name}`))?.parents[0]?.accepted.reason;
    expect(reason('in-infra')).toBe('Accepted');
    expect(reason('in-web')).toBe('Accepted');
    expect(reason('in-app')).toBe('NotAllowedByListeners');
    expect(reason('no-such-listener')).toBe('NoMatchingParent');
    expect(reason('wrong-port')).toBe('NoMatchingParent');
    expect(where(ask('same.test', '/'))).toBe('other');
    expect(where(ask('picked.test', '/'))).toBe('other');
  });

  it('says nothing about parents that are not ours', () => {
    const { outcomes } = compile([
      route('r', [{ backendRefs: [to('a')] }], { parent: { name: 'not-ours' } }),
    ]);
    expect(outcomes).toEqual([]);
  });

  it('answers 500 for the share of a backend it cannot use, with the ResolvedRefs reason', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [to('missing'), 'BackendNotFound'],
      [to('a', { kind: 'ConfigMap' }), 'InvalidKind'],
      [to('other', { namespace: 'elsewhere' }), 'RefNotPermitted'],
    ];
    for (const [ref, want] of cases) {
      const { ask, outcomes } = compile([route('r', [{ backendRefs: [ref] }])]);
      expect(where(ask('h.test', '/'))).toBe(500);
      expect(outcomes[0]?.parents[0]?.resolvedRefs).toMatchObject({ status: false, reason: want });
      expect(outcomes[0]?.parents[0]?.accepted.status).toBe(true);
    }
    const granted = compile([route('r', [{ backendRefs: [to('other', { namespace: 'elsewhere' })] }])], {
      grants: [
        {
          metadata: { name: 'g', namespace: 'elsewhere' },
          spec: {
            from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'app' }],
            to: [{ group: '', kind: 'Service', name: 'other' }],
          },
        },
      ],
    });
    expect(where(granted.ask('h.test', '/'))).toBe('other');
    expect(granted.outcomes[0]?.parents[0]?.resolvedRefs.reason).toBe('ResolvedRefs');
  });

  it('refuses what it cannot serve as written with UnsupportedValue or IncompatibleFilters', () => {
    const bad: Array<[HTTPRouteRule, string]> = [
      [{ matches: [{ path: { type: 'RegularExpression', value: '(?<=x)' } }] }, 'UnsupportedValue'],
      [{ filters: [{ type: 'ExtensionRef', extensionRef: { name: 'x' } }] }, 'UnsupportedValue'],
      [
        {
          filters: [
            {
              type: 'RequestHeaderModifier',
              requestHeaderModifier: { set: [{ name: 'Content-Length', value: '0' }] },
            },
          ],
        },
        'UnsupportedValue',
      ],
      [
        {
          filters: [
            {
              type: 'RequestHeaderModifier',
              requestHeaderModifier: { add: [{ name: 'x', value: 'a\r\nb' }] },
            },
          ],
        },
        'UnsupportedValue',
      ],
      [
        {
          matches: [exact('/x')],
          filters: [
            {
              type: 'URLRewrite',
              urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } },
            },
          ],
        },
        'UnsupportedValue',
      ],
      [
        {
          filters: [
            { type: 'RequestRedirect', requestRedirect: {} },
            { type: 'URLRewrite', urlRewrite: {} },
          ],
        },
        'IncompatibleFilters',
      ],
    ];
    for (const [rule, reason] of bad) {
      const { outcomes, ask } = compile([route('r', [{ ...rule, backendRefs: [to('a')] }])]);
      expect(outcomes[0]?.parents[0]?.accepted).toMatchObject({ status: false, reason });
      expect(where(ask('h.test', '/x'))).toBe(404);
    }
  });
});

describe('actions', () => {
  it('splits traffic by weight', () => {
    const { table } = compile([
      route('r', [{ backendRefs: [to('a', { weight: 3 }), to('b', { weight: 1 }), to('c', { weight: 0 })] }]),
    ]);
    const a = table.lookup('h.test', '/') as RuleAction;
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const b = pickWeighted(a, i / 4000);
      const s = b?.backend.kind === 'service' ? b.backend.upstream.service : '?';
      counts[s] = (counts[s] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 3000, b: 1000 });
  });

  it('redirects with the Location the filter builds', () => {
    const redirect = (requestRedirect: Record<string, unknown>, match = prefix('/old')) =>
      compile([
        route('r', [{ matches: [match], filters: [{ type: 'RequestRedirect', requestRedirect }] }]),
      ]).ask('h.test', '/old/page?x=1', 'GET', { 'x-forwarded-proto': 'https' });
    expect(redirect({})).toMatchObject({ status: 302, location: 'https://h.test/old/page?x=1' });
    expect(redirect({ scheme: 'http', statusCode: 301 })).toMatchObject({
      status: 301,
      location: 'http://h.test/old/page?x=1',
    });
    expect(redirect({ hostname: 'new.test', port: 8443 })).toMatchObject({
      location: 'https://new.test:8443/old/page?x=1',
    });
    expect(redirect({ port: 443 })).toMatchObject({ location: 'https://h.test/old/page?x=1' });
    expect(redirect({ path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } })).toMatchObject({
      location: 'https://h.test/new/page?x=1',
    });
    expect(redirect({ path: { type: 'ReplaceFullPath', replaceFullPath: '/home' } })).toMatchObject({
      location: 'https://h.test/home?x=1',
    });
  });

  it('rewrites the path and Host, and carries the header edits of the rule and then the backend', () => {
    const { ask } = compile([
      route('r', [
        {
          matches: [prefix('/strip')],
          filters: [
            {
              type: 'URLRewrite',
              urlRewrite: {
                hostname: 'inner.test',
                path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' },
              },
            },
            {
              type: 'RequestHeaderModifier',
              requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], remove: ['x-b'] },
            },
            {
              type: 'ResponseHeaderModifier',
              responseHeaderModifier: { add: [{ name: 'X-Served', value: 'yes' }] },
            },
          ],
          backendRefs: [
            to('a', {
              filters: [
                {
                  type: 'RequestHeaderModifier',
                  requestHeaderModifier: { add: [{ name: 'X-Backend', value: 'a' }] },
                },
              ],
            }),
          ],
        },
        {
          matches: [prefix('/full')],
          filters: [
            {
              type: 'URLRewrite',
              urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/one' } },
            },
          ],
          backendRefs: [to('b')],
        },
      ]),
    ]);
    const r = ask('h.test', '/strip/x/y?q=1');
    expect(r).toMatchObject({ path: '/x/y?q=1' });
    expect('edits' in r && r.edits).toEqual({
      host: 'inner.test',
      request: [
        { set: [['x-a', '1']], add: [], remove: ['x-b'] },
        { set: [], add: [['x-backend', 'a']], remove: [] },
      ],
      response: [{ set: [], add: [['x-served', 'yes']], remove: [] }],
    });
    expect(ask('h.test', '/strip')).toMatchObject({ path: '/' });
    expect(ask('h.test', '/full/deep/er')).toMatchObject({ path: '/one' });
  });

  it('answers 500 for a rule without backends, and uses kubernetes.io/h2c for HTTP/2 to the origin', () => {
    const { ask, outcomes } = compile([
      route('r', [
        { matches: [prefix('/none')] },
        { matches: [prefix('/h2')], backendRefs: [to('h2')] },
        { matches: [prefix('/plain')], backendRefs: [to('a')] },
      ]),
    ]);
    expect(where(ask('h.test', '/none'))).toBe(500);
    expect(ask('h.test', '/h2')).toMatchObject({ options: { h2: true, tls: false } });
    expect(ask('h.test', '/plain')).toMatchObject({ options: undefined });
    expect(outcomes[0]?.parents[0]?.resolvedRefs.reason).toBe('ResolvedRefs');
    const wss = compile([route('r', [{ backendRefs: [to('wss')] }])]);
    expect(wss.outcomes[0]?.parents[0]?.resolvedRefs.reason).toBe('UnsupportedProtocol');
    expect(where(wss.ask('h.test', '/'))).toBe(500);
  });
});

describe('RequestMirror', () => {
  it('compiles mirrors with their share; a mirror that does not resolve is left out and ResolvedRefs says why', () => {
    const mirrorTo = (name: string, share: Record<string, unknown> = {}) => ({
      type: 'RequestMirror',
      requestMirror: { backendRef: { name, port: 80 }, ...share },
    });
    const { table, outcomes } = compile([
      route('r', [
        {
          filters: [
            mirrorTo('b'),
            mirrorTo('c', { percent: 25 }),
            mirrorTo('d', { fraction: { numerator: 1, denominator: 8 } }),
          ],
          backendRefs: [to('a')],
        },
      ]),
      route('m', [{ filters: [mirrorTo('missing')], backendRefs: [to('a')] }], { hostnames: ['m.test'] }),
      route('h2', [{ filters: [mirrorTo('h2')], backendRefs: [to('a')] }], { hostnames: ['h2.test'] }),
    ]);
    const action = (host: string) => table.route(host, '/', 'GET', {}, '')?.action as RuleAction;
    expect(action('h.test').mirrors?.map((m) => [m.backend.upstream.service, m.fraction])).toEqual([
      ['b', 1],
      ['c', 0.25],
      ['d', 0.125],
    ]);
    expect(action('m.test').mirrors).toBeNull();
    expect(outcomes[1]?.parents[0]?.resolvedRefs.reason).toBe('BackendNotFound');
    expect(outcomes[2]?.parents[0]?.resolvedRefs.reason).toBe('UnsupportedProtocol');
    // A GRPCRoute cannot mirror (gRPC has no HTTP/1.1 form): refused, never skipped.
    const g = compile([], {
      grpcRoutes: [grpcRoute('g', [{ filters: [mirrorTo('b')], backendRefs: [to('a')] }])],
    });
    expect(g.outcomes[0]?.parents[0]?.accepted).toMatchObject({ status: false, reason: 'UnsupportedValue' });
  });
});

describe('BackendTLSPolicy', () => {
  const CA = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
  const policy = (
    name: string,
    validation: Record<string, unknown>,
    target: Record<string, unknown> = {},
  ) => ({
    metadata: { name, namespace: 'app', creationTimestamp: created(), generation: 1 },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'a', ...target }], validation },
  });
  const byCm = { caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'ca' }], hostname: 'a.internal' };

  it('gives a covered backend TLS with its CA and name; the older of two policies wins; others report why', () => {
    const { ask, policies } = compile([route('r', [{ backendRefs: [to('a')] }])], {
      tlsPolicies: [
        policy('first', byCm),
        policy('second', { wellKnownCACertificates: 'System', hostname: 'b.internal' }),
        policy(
          'nocm',
          { ...byCm, caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'gone' }] },
          { name: 'b' },
        ),
        policy(
          'kind',
          { ...byCm, caCertificateRefs: [{ group: '', kind: 'Secret', name: 'ca' }] },
          { name: 'c' },
        ),
      ],
      configMaps: { 'app/ca': { 'ca.crt': CA } },
    });
    expect(ask('h.test', '/')).toMatchObject({
      options: { tls: true, caPem: CA, sni: 'a.internal', systemRoots: false },
    });
    const byName = new Map(policies.map((p) => [p.key, p]));
    expect(byName.get('app/first')).toMatchObject({ accepted: { status: true } });
    expect([...(byName.get('app/first')?.ancestors ?? [])]).toEqual(['infra/edge']);
    expect(byName.get('app/second')?.accepted).toMatchObject({ status: false, reason: 'Conflicted' });
    expect(byName.get('app/nocm')?.accepted.reason).toBe('NoValidCACertificate');
    expect(byName.get('app/nocm')?.resolvedRefs.reason).toBe('InvalidCACertificateRef');
    expect(byName.get('app/kind')?.resolvedRefs.reason).toBe('InvalidKind');
    // Not used by any route of ours: no ancestors, so no status entry either.
    expect(byName.get('app/nocm')?.ancestors.size).toBe(0);
  });

  it('answers for a covered backend whose policy cannot be used, and waits for a ConfigMap being read', () => {
    const broken = compile([route('r', [{ backendRefs: [to('a')] }])], {
      tlsPolicies: [
        policy('nocm', { ...byCm, caCertificateRefs: [{ group: '', kind: 'ConfigMap', name: 'gone' }] }),
      ],
    });
    expect(where(broken.ask('h.test', '/'))).toBe(500);
    expect(broken.outcomes[0]?.parents[0]?.resolvedRefs.status).toBe(true);
    const waiting = compile([route('r', [{ backendRefs: [to('a')] }])], {
      tlsPolicies: [policy('slow', byCm)],
      configMaps: { 'app/ca': 'pending' },
    });
    expect(waiting.ask('h.test', '/')).toMatchObject({
      status: 500,
      message: expect.stringContaining('waiting for configmap app/ca'),
    });
  });
});

describe('timeouts', () => {
  it('makes one deadline of request and backendRequest; 0s turns one off; a bad duration is refused', () => {
    const rule = (timeouts: Record<string, string>, value: string) => ({
      matches: [prefix(value)],
      timeouts,
      backendRefs: [to('a')],
    });
    const { ask, outcomes } = compile([
      route('r', [
        rule({ request: '10s', backendRequest: '1s500ms' }, '/both'),
        rule({ request: '2m' }, '/request'),
        rule({ request: '0s', backendRequest: '250ms' }, '/backend'),
        rule({}, '/none'),
      ]),
      route('bad', [rule({ request: '1.5s' }, '/')], { hostnames: ['bad.test'] }),
      route('longer', [rule({ request: '1s', backendRequest: '2s' }, '/')], { hostnames: ['longer.test'] }),
    ]);
    expect(ask('h.test', '/both')).toMatchObject({ timeoutMs: 1500 });
    expect(ask('h.test', '/request')).toMatchObject({ timeoutMs: 120_000 });
    expect(ask('h.test', '/backend')).toMatchObject({ timeoutMs: 250 });
    expect('timeoutMs' in ask('h.test', '/none')).toBe(false);
    expect(outcomes[1]?.parents[0]?.accepted).toMatchObject({ status: false, reason: 'UnsupportedValue' });
    expect(outcomes[2]?.parents[0]?.accepted.message).toContain('backendRequest is longer than request');
  });
});

describe('Ingress and Gateway API side by side', () => {
  it('share one table: an Ingress host does not fall through, a Gateway route host does', () => {
    const ingress: Ingress = {
      metadata: { name: 'ing', namespace: 'app', creationTimestamp: created() },
      spec: {
        rules: [
          {
            host: 'ing.example.com',
            http: {
              paths: [
                {
                  path: '/api',
                  pathType: 'Prefix',
                  backend: { service: { name: 'a', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    };
    const { ask, table } = compile(
      [route('gw', [{ backendRefs: [to('b')] }], { hostnames: ['*.example.com'] })],
      { ingresses: [ingress] },
    );
    expect(where(ask('ing.example.com', '/api/x'))).toBe('a');
    expect(where(ask('ing.example.com', '/other'))).toBe(404);
    expect(where(ask('gw.example.com', '/other'))).toBe('b');
    expect(table.serves('ingress/app/ing')).toBe(true);
    expect(table.serves('httproute/app/gw')).toBe(true);
  });
});

function grpcRoute(
  name: string,
  rules: GRPCRouteRule[],
  opts: { hostnames?: string[]; parent?: Record<string, unknown> } = {},
): GRPCRoute {
  return {
    metadata: { name, namespace: 'app', creationTimestamp: created(), generation: 1 },
    spec: {
      parentRefs: [{ name: 'edge', namespace: 'infra', ...opts.parent }],
      ...(opts.hostnames === undefined ? {} : { hostnames: opts.hostnames }),
      rules,
    },
  };
}

const call = (service?: string, method?: string, type?: string) => ({
  method: { ...(type === undefined ? {} : { type }), service, method },
});

describe('GRPCRoute', () => {
  it('matches service and method (Exact and RE2), headers, with GRPCRoute precedence', () => {
    const { ask, outcomes } = compile([], {
      grpcRoutes: [
        grpcRoute('g', [
          { matches: [call('pkg.Echo', 'Say')], backendRefs: [to('a')] },
          { matches: [call('pkg.Echo')], backendRefs: [to('b')] },
          { matches: [call(undefined, 'Ping')], backendRefs: [to('c')] },
          { matches: [call('pkg\\.Stream.*', 'Get.*', 'RegularExpression')], backendRefs: [to('d')] },
          {
            matches: [{ ...call('pkg.Echo', 'Say'), headers: [{ name: 'X-Tenant', value: 'blue' }] }],
            backendRefs: [to('e')],
          },
        ]),
      ],
    });
    expect(outcomes[0]).toMatchObject({ kind: 'GRPCRoute', source: 'grpcroute/app/g' });
    expect(outcomes[0]?.parents[0]?.accepted.status).toBe(true);
    expect(where(ask('h.test', '/pkg.Echo/Say', 'POST'))).toBe('a');
    expect(where(ask('h.test', '/pkg.Echo/Say', 'POST', { 'x-tenant': 'blue' }))).toBe('e');
    expect(where(ask('h.test', '/pkg.Echo/Other', 'POST'))).toBe('b');
    // Segments compare whole: another service whose name starts alike is not pkg.Echo.
    expect(where(ask('h.test', '/pkg.EchoV2/Ping', 'POST'))).toBe('c');
    expect(where(ask('h.test', '/pkg.StreamV1/GetAll', 'POST'))).toBe('d');
    expect(where(ask('h.test', '/pkg.StreamV1/Put', 'POST'))).toBe(404);
    // A gRPC backend speaks HTTP/2 with prior knowledge.
    expect(ask('h.test', '/pkg.Echo/Say', 'POST')).toMatchObject({ options: { h2: true } });
  });

  it('answers 503 (UNAVAILABLE) for an unusable backend and refuses filters it does not take', () => {
    const { ask, outcomes } = compile([], {
      grpcRoutes: [
        grpcRoute('g', [{ backendRefs: [to('missing')] }]),
        grpcRoute('bad', [{ filters: [{ type: 'URLRewrite', urlRewrite: {} }], backendRefs: [to('a')] }], {
          hostnames: ['bad.test'],
        }),
      ],
    });
    expect(where(ask('h.test', '/pkg.Echo/Say', 'POST'))).toBe(503);
    expect(outcomes[0]?.parents[0]?.resolvedRefs.reason).toBe('BackendNotFound');
    expect(outcomes[1]?.parents[0]?.accepted).toMatchObject({ status: false, reason: 'UnsupportedValue' });
  });

  it('accepts only the older of an HTTPRoute and a GRPCRoute sharing a hostname on one listener', () => {
    const older = route('web', [{ backendRefs: [to('a')] }], { hostnames: ['shared.test', 'web.test'] });
    const newer = grpcRoute('rpc', [{ backendRefs: [to('b')] }], { hostnames: ['*.test'] });
    const apart = grpcRoute('apart', [{ backendRefs: [to('c')] }], { hostnames: ['rpc.example'] });
    const { outcomes, ask } = compile([older], { grpcRoutes: [newer, apart] });
    const byKey = new Map(outcomes.map((o) => [o.source, o.parents[0]?.accepted]));
    expect(byKey.get('httproute/app/web')?.status).toBe(true);
    expect(byKey.get('grpcroute/app/rpc')).toMatchObject({ status: false, reason: 'NotAllowedByListeners' });
    expect(byKey.get('grpcroute/app/apart')?.status).toBe(true);
    expect(where(ask('other.test', '/pkg.Echo/Say', 'POST'))).toBe(404);
    expect(where(ask('rpc.example', '/pkg.Echo/Say', 'POST'))).toBe('c');
  });
});
