import type { HTTPRoute } from '../agent/gateway/gateway-types.js';
import { addGatewayRoutes, type OurGateway } from '../agent/gateway/gateway-routes.js';
import { listenersOf } from '../agent/gateway/listener-attachment.js';
import { compileRoutes } from '../agent/routing/ingress-routes.js';
import { RouteTableBuilder } from '../agent/routing/route-table-builder.js';
import { ServiceBackends } from '../agent/routing/service-backends.js';
import type { EndpointSlice, Ingress, Service } from '../agent/routing/types.js';
import { UpstreamRegistry } from '../agent/routing/upstreams.js';

/**
 * Route table at scale, in process: 5,000 Ingresses × 4 paths, 5,000 Services and 50,000 endpoints
 * (10 per Service). Build time (median of 5), lookup time per request over a mix of hits and misses,
 * and the heap the table and its inputs take.
 */
export interface RoutingResult {
  ingresses: number;
  routes: number;
  endpoints: number;
  buildMsMedian: number;
  lookupNs: number;
  heapMiB: number;
}

function fixtures(n: number) {
  const ingresses: Ingress[] = [];
  const services = new Map<string, Service>();
  const slices = new Map<string, EndpointSlice[]>();
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 50}`;
    const svc = `svc-${i}`;
    services.set(`${ns}/${svc}`, {
      metadata: { name: svc, namespace: ns },
      spec: { ports: [{ name: 'http', port: 80 }] },
    });
    slices.set(`${ns}/${svc}`, [
      {
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080 }],
        endpoints: Array.from({ length: 10 }, (_, j) => ({
          addresses: [`127.${(i >> 8) & 255}.${i & 255}.${j + 1}`],
          conditions: { ready: true },
        })),
      },
    ]);
    const backend = { service: { name: svc, port: { name: 'http' } } };
    ingresses.push({
      metadata: {
        name: `ing-${i}`,
        namespace: ns,
        creationTimestamp: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      },
      spec: {
        rules: [
          {
            host: i % 10 === 0 ? `*.wild${i}.example.com` : `host${i}.example.com`,
            http: {
              paths: [
                { path: '/', pathType: 'Prefix', backend },
                { path: '/api', pathType: 'Prefix', backend },
                { path: '/api/v1/users', pathType: 'Prefix', backend },
                { path: '/healthz', pathType: 'Exact', backend },
              ],
            },
          },
        ],
      },
    });
  }
  return { ingresses, services, slices };
}

/** Hosts and paths to look up: hits on exact and wildcard hosts at every path depth, and misses. */
function lookupQueries(n: number): Array<[string, string]> {
  const paths = ['/', '/api/v1/users/42/orders', '/healthz', '/api/other', '/static/css/site.css'];
  const queries: Array<[string, string]> = [];
  for (let i = 0; i < 10_000; i++) {
    const k = (i * 7919) % n;
    const host = k % 10 === 0 ? `a.wild${k}.example.com` : `host${k}.example.com`;
    queries.push([i % 17 === 0 ? 'nowhere.example.org' : host, paths[i % 5]!]);
  }
  return queries;
}

/** Nanoseconds per lookup over 100 rounds of the queries; throws if none hit (a wrong benchmark). */
function timeLookups(
  queries: Array<[string, string]>,
  lookup: (host: string, path: string) => boolean,
): number {
  let hits = 0;
  const rounds = 100;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < queries.length; i++) {
      const q = queries[i] as [string, string];
      if (lookup(q[0], q[1])) hits++;
    }
  }
  const ns = ((performance.now() - t0) * 1e6) / (rounds * queries.length);
  if (hits === 0) throw new Error('no lookup hit: the benchmark is wrong');
  return ns;
}

export function benchRouting(n = 5000): RoutingResult {
  const { ingresses, services, slices } = fixtures(n);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const builds: number[] = [];
  let result: ReturnType<typeof compileRoutes> | null = null;
  const upstreams = new UpstreamRegistry();
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    result = compileRoutes({ ingresses, services, existing: upstreams.existing, generation: round + 1 });
    upstreams.apply(result.upstreams, (ns, s) => slices.get(`${ns}/${s}`) ?? []);
    builds.push(performance.now() - t0);
  }
  global.gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const table = result!.table;
  const lookupNs = timeLookups(lookupQueries(n), (host, path) => table.lookup(host, path) !== null);
  return routingResult(n, table, upstreams, builds, lookupNs, heapMiB);
}

/** The same scale through the Gateway API: 5,000 HTTPRoutes of one Gateway, each with the four paths. */
function httpRoutes(n: number): HTTPRoute[] {
  const out: HTTPRoute[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 50}`;
    const to = [{ name: `svc-${i}`, port: 80 }];
    out.push({
      metadata: {
        name: `route-${i}`,
        namespace: ns,
        creationTimestamp: new Date(1_700_000_000_000 + i * 1000).toISOString(),
      },
      spec: {
        parentRefs: [{ name: 'edge', namespace: 'infra' }],
        hostnames: [i % 10 === 0 ? `*.wild${i}.example.com` : `host${i}.example.com`],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: to },
          { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: to },
          { matches: [{ path: { type: 'PathPrefix', value: '/api/v1/users' } }], backendRefs: to },
          { matches: [{ path: { type: 'Exact', value: '/healthz' } }], backendRefs: to },
        ],
      },
    });
  }
  return out;
}

export function benchGatewayRouting(n = 5000): RoutingResult {
  const { services, slices } = fixtures(n);
  const routes = httpRoutes(n);
  const gw = {
    metadata: { name: 'edge', namespace: 'infra' },
    spec: {
      gatewayClassName: 'c',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
      ],
    },
  };
  const gateways = new Map<string, OurGateway>([
    ['infra/edge', { key: 'infra/edge', namespace: 'infra', gateway: gw, listeners: listenersOf(gw) }],
  ]);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const builds: number[] = [];
  const upstreams = new UpstreamRegistry();
  let table = null as ReturnType<RouteTableBuilder['build']> | null;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const builder = new RouteTableBuilder();
    const backends = new ServiceBackends(services, upstreams.existing);
    const r = addGatewayRoutes(
      {
        gateways,
        httpRoutes: routes,
        grpcRoutes: [],
        tlsPolicies: [],
        configMaps: () => undefined,
        grants: [],
        namespaceLabels: () => undefined,
      },
      builder,
      backends,
    );
    table = builder.build(round + 1, null, r.sources);
    upstreams.apply(backends.upstreams, (ns, s) => slices.get(`${ns}/${s}`) ?? []);
    builds.push(performance.now() - t0);
  }
  global.gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const t = table!;
  const headers = {};
  const lookupNs = timeLookups(
    lookupQueries(n),
    (host, path) => t.route(host, path, 'GET', headers, '') !== null,
  );
  return routingResult(n, t, upstreams, builds, lookupNs, heapMiB);
}

/** A run's figures: the median of the builds, and what the last build made. */
function routingResult(
  n: number,
  table: { entries: readonly unknown[] },
  upstreams: UpstreamRegistry,
  builds: number[],
  lookupNs: number,
  heapMiB: number,
): RoutingResult {
  builds.sort((a, b) => a - b);
  return {
    ingresses: n,
    routes: table.entries.length,
    endpoints: upstreams.all().reduce((s, u) => s + u.endpoints.length, 0),
    buildMsMedian: builds[Math.floor(builds.length / 2)] as number,
    lookupNs,
    heapMiB,
  };
}
