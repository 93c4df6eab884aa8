import { describe, expect, it } from 'vitest';
import { LOAD_BALANCE_ANNOTATION } from './load-balancer.js';
import { compileRoutes } from './ingress-routes.js';
import { normalizeHost, type RouteAction } from './route-table.js';
import { UpstreamRegistry, upstreamKey, type UpstreamSpec } from './upstreams.js';
import type { Ingress, Service } from './types.js';

let clock = 0;
function ingress(name: string, spec: Ingress['spec'], opts: { ns?: string; created?: string } = {}): Ingress {
  return {
    metadata: {
      name,
      namespace: opts.ns ?? 'default',
      creationTimestamp: opts.created ?? new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString(),
    },
    spec,
  };
}
const svc = (
  name: string,
  ports: Array<{ name?: string; port: number }> = [{ port: 80 }],
  ns = 'default',
): Service => ({
  metadata: { name, namespace: ns },
  spec: { ports },
});
const rule = (host: string | undefined, ...paths: Array<[string, string, string, number?]>) => ({
  ...(host === undefined ? {} : { host }),
  http: {
    paths: paths.map(([path, pathType, service, port]) => ({
      path,
      pathType,
      backend: { service: { name: service, port: { number: port ?? 80 } } },
    })),
  },
});

function build(ingresses: Ingress[], services: Service[] = ['a', 'b', 'c', 'd', 'e'].map((n) => svc(n))) {
  return compileRoutes({
    ingresses,
    services: new Map(services.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s])),
    generation: 1,
  });
}

const target = (b: RouteAction | null) =>
  b === null
    ? null
    : b.kind === 'service'
      ? b.upstream.service
      : b.kind === 'unavailable'
        ? `unavailable: ${b.reason}`
        : b.description;

describe('hosts', () => {
  const { table } = build([
    ingress('i', {
      rules: [
        rule('exact.example.com', ['/', 'Prefix', 'a']),
        rule('*.example.com', ['/', 'Prefix', 'b']),
        rule(undefined, ['/', 'Prefix', 'c']),
      ],
    }),
  ]);
  it.each([
    ['exact.example.com', 'a'],
    ['other.example.com', 'b'],
    ['a.b.example.com', 'c'], // a wildcard matches one label only
    ['example.com', 'c'], // nor the bare suffix
    ['unknown.test', 'c'], // host-less rules match any host
  ])('%s → %s', (host, want) => {
    expect(target(table.lookup(host, '/x'))).toBe(want);
  });

  it('normalizes the request host: case, port and trailing dot', () => {
    expect(normalizeHost('Exact.Example.COM:8443')).toBe('exact.example.com');
    expect(normalizeHost('exact.example.com.')).toBe('exact.example.com');
    expect(normalizeHost('[::1]:80')).toBe('[::1]');
  });

  it('does not fall through from a matching host to host-less rules', () => {
    const { table: t } = build([
      ingress('i', {
        rules: [rule('h.test', ['/api', 'Prefix', 'a']), rule(undefined, ['/', 'Prefix', 'c'])],
      }),
    ]);
    expect(target(t.lookup('h.test', '/other'))).toBeNull();
    expect(target(t.lookup('h.test', '/api/x'))).toBe('a');
  });
});

describe('paths', () => {
  const { table } = build([
    ingress('i', {
      rules: [
        rule(
          'h.test',
          ['/foo', 'Prefix', 'a'],
          ['/foo/bar', 'Prefix', 'b'],
          ['/foo/bar', 'Exact', 'c'],
          ['/exact', 'Exact', 'd'],
          ['/impl', 'ImplementationSpecific', 'e'],
          ['/trail/', 'Prefix', 'e'],
        ),
      ],
    }),
  ]);
  it.each([
    ['/foo', 'a'],
    ['/foo/', 'a'], // trailing slash ignored for Prefix
    ['/foo/baz', 'a'],
    ['/foobar', null], // element-wise: /foo does not match /foobar
    ['/foo/bar', 'c'], // Exact beats Prefix at equal length
    ['/foo/bar/', 'b'], // Exact does not ignore the trailing slash; the Prefix takes it
    ['/foo/bar/baz', 'b'], // the longest match wins
    ['/exact', 'd'],
    ['/exact/', null],
    ['/exact/more', null],
    ['/impl/x', 'e'], // ImplementationSpecific is Prefix
    ['/trail', 'e'],
    ['/trail/x', 'e'],
  ])('%s → %s', (path, want) => {
    expect(target(table.lookup('h.test', path))).toBe(want);
  });

  it('matches everything under Prefix /', () => {
    const { table: t } = build([ingress('i', { rules: [rule('h.test', ['/', 'Prefix', 'a'])] })]);
    expect(target(t.lookup('h.test', '/'))).toBe('a');
    expect(target(t.lookup('h.test', '/any/thing'))).toBe('a');
  });
});

describe('merging Ingresses', () => {
  it('merges the rules of all Ingresses for one host', () => {
    const { table } = build([
      ingress('one', { rules: [rule('h.test', ['/a', 'Prefix', 'a'])] }),
      ingress('two', { rules: [rule('h.test', ['/b', 'Prefix', 'b'])] }, { ns: 'default' }),
    ]);
    expect(target(table.lookup('h.test', '/a'))).toBe('a');
    expect(target(table.lookup('h.test', '/b'))).toBe('b');
  });

  it('gives a duplicate host+path+type to the oldest Ingress and warns the other', () => {
    const { table, diagnostics } = build([
      ingress(
        'young',
        { rules: [rule('h.test', ['/x', 'Prefix', 'b'])] },
        { created: '2026-02-01T00:00:00Z' },
      ),
      ingress('old', { rules: [rule('h.test', ['/x', 'Prefix', 'a'])] }, { created: '2026-01-01T00:00:00Z' }),
    ]);
    expect(target(table.lookup('h.test', '/x'))).toBe('a');
    expect(diagnostics).toEqual([
      expect.objectContaining({ ingress: 'default/young', reason: 'ConflictingRule' }),
    ]);
  });

  it('breaks creation-time ties by namespace/name', () => {
    const t = '2026-01-01T00:00:00Z';
    const { table } = build([
      ingress('zeta', { rules: [rule('h.test', ['/', 'Prefix', 'b'])] }, { created: t }),
      ingress('alpha', { rules: [rule('h.test', ['/', 'Prefix', 'a'])] }, { created: t }),
    ]);
    expect(target(table.lookup('h.test', '/'))).toBe('a');
  });

  it('serves unmatched requests from the oldest defaultBackend', () => {
    const backend = (s: string) => ({ service: { name: s, port: { number: 80 } } });
    const { table, diagnostics } = build([
      ingress('second', { defaultBackend: backend('b') }, { created: '2026-03-01T00:00:00Z' }),
      ingress(
        'first',
        { defaultBackend: backend('a'), rules: [rule('h.test', ['/x', 'Exact', 'c'])] },
        { created: '2026-01-01T00:00:00Z' },
      ),
    ]);
    expect(target(table.lookup('h.test', '/x'))).toBe('c');
    expect(target(table.lookup('h.test', '/y'))).toBe('a');
    expect(target(table.lookup('nowhere.test', '/'))).toBe('a');
    expect(diagnostics.map((d) => d.reason)).toEqual(['ConflictingDefaultBackend']);
  });
});

describe('backends', () => {
  it('resolves a Service port by number or by name to the port name EndpointSlices use', () => {
    const services = [
      svc('named', [
        { name: 'http', port: 80 },
        { name: 'admin', port: 9000 },
      ]),
    ];
    const { table } = build(
      [
        ingress('i', {
          rules: [
            {
              host: 'h.test',
              http: {
                paths: [
                  {
                    path: '/n',
                    pathType: 'Prefix',
                    backend: { service: { name: 'named', port: { number: 9000 } } },
                  },
                ],
              },
            },
            {
              host: 'h.test',
              http: {
                paths: [
                  {
                    path: '/s',
                    pathType: 'Prefix',
                    backend: { service: { name: 'named', port: { name: 'http' } } },
                  },
                ],
              },
            },
          ],
        }),
      ],
      services,
    );
    const n = table.lookup('h.test', '/n');
    const s = table.lookup('h.test', '/s');
    expect(n?.kind === 'service' && n.upstream.portName).toBe('admin');
    expect(s?.kind === 'service' && s.upstream.portName).toBe('http');
  });

  it('warns about a missing Service, an unknown port, a resource backend and an invalid path, and keeps the rest', () => {
    const { table, diagnostics } = build([
      ingress('broken', {
        rules: [
          {
            host: 'h.test',
            http: {
              paths: [
                {
                  path: '/missing',
                  pathType: 'Prefix',
                  backend: { service: { name: 'nope', port: { number: 80 } } },
                },
                {
                  path: '/port',
                  pathType: 'Prefix',
                  backend: { service: { name: 'a', port: { number: 81 } } },
                },
                { path: '/res', pathType: 'Prefix', backend: { resource: { kind: 'Bucket', name: 'b' } } },
                {
                  path: 'relative',
                  pathType: 'ImplementationSpecific',
                  backend: { service: { name: 'a', port: { number: 80 } } },
                },
                {
                  path: '/ok',
                  pathType: 'Prefix',
                  backend: { service: { name: 'a', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      }),
    ]);
    expect(diagnostics.map((d) => d.reason).sort()).toEqual([
      'InvalidPath',
      'ServiceNotFound',
      'UnknownServicePort',
      'UnsupportedBackend',
    ]);
    expect(target(table.lookup('h.test', '/ok'))).toBe('a');
    expect(target(table.lookup('h.test', '/missing'))).toBe(
      'unavailable: Service default/nope does not exist',
    );
    expect(target(table.lookup('h.test', '/port'))).toMatch(/no port 81/);
    expect(target(table.lookup('h.test', '/res'))).toBeNull();
  });
});

describe('compile and apply', () => {
  it('changes nothing in use until the upstreams are applied, and keeps an upstream across compiles', () => {
    const reg = new UpstreamRegistry();
    const services = (lb?: string) =>
      new Map([
        [
          'default/a',
          {
            metadata: {
              name: 'a',
              namespace: 'default',
              ...(lb === undefined ? {} : { annotations: { [LOAD_BALANCE_ANNOTATION]: lb } }),
            },
            spec: { ports: [{ port: 80 }] },
          } as Service,
        ],
      ]);
    const ings = [ingress('one', { rules: [rule('h.test', ['/', 'Prefix', 'a'])] })];
    const first = compileRoutes({
      ingresses: ings,
      services: services(),
      existing: reg.existing,
      generation: 1,
    });
    const u = (first.upstreams.values().next().value as UpstreamSpec).upstream;
    expect(reg.existing(upstreamKey('default', 'a', ''))).toBeUndefined();
    reg.apply(first.upstreams, () => []);
    expect(reg.existing(upstreamKey('default', 'a', ''))).toBe(u);

    const second = compileRoutes({
      ingresses: ings,
      services: services('least-request'),
      existing: reg.existing,
      generation: 2,
    });
    expect((second.upstreams.values().next().value as UpstreamSpec).upstream).toBe(u);
    // The table in use still balances as before: the compile only said what it wants.
    expect(u.tracksLoad).toBe(false);
    reg.apply(second.upstreams, () => []);
    expect(u.tracksLoad).toBe(true);
  });
});
