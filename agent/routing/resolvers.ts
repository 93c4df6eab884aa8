import type http2 from 'node:http2';
import { PLAIN, type OriginOptions } from './origin-options.js';
import type { RouteTable } from './route-table.js';
import type { Upstream } from './upstreams.js';

/**
 * Where a request goes: an origin (with the endpoints it was picked from, for retries and passive
 * health) or the agent's own answer. `route` is the matched rule's host (bounded, for metric labels),
 * not the visitor's Host.
 */
export type Resolution =
  | { origin: string; path: string; route: string; upstream?: Upstream; options?: OriginOptions }
  | { status: number; message: string; route: string };

/** host: lower case, no port; path: as requested, with its query; headers for hash load balancing. */
export type Resolver = (host: string, path: string, headers?: http2.IncomingHttpHeaders) => Resolution;

/**
 * The two ways the agent picks an origin: one static URL for every request (`--url`, as
 * `cloudflared tunnel --url` does), or the Ingress route table of the moment.
 */
export function staticResolver(url: URL): Resolver {
  const base = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const origin = url.origin;
  return (_host, path) => ({ origin, path: base + path, route: '*' });
}

export function routeResolver(table: () => RouteTable): Resolver {
  return (host: string, path: string, headers): Resolution => {
    const q = path.indexOf('?');
    const backend = table().lookup(host, q >= 0 ? path.slice(0, q) : path);
    if (backend === null)
      return { status: 404, message: `No Ingress rule matches ${host}${path}.`, route: 'unmatched' };
    if (backend.kind === 'unavailable')
      return { status: 503, message: `Service unavailable: ${backend.reason}.`, route: backend.host };
    const ep = backend.upstream.pick(headers);
    if (ep === null) {
      return {
        status: 503,
        message: `Service unavailable: ${backend.upstream.namespace}/${backend.upstream.service} has no ready endpoint.`,
        route: backend.host,
      };
    }
    const o = backend.origin;
    return {
      origin: o.tls ? ep.tlsOrigin : ep.origin,
      path,
      route: backend.host,
      upstream: backend.upstream,
      options: o === PLAIN ? undefined : o,
    };
  };
}
