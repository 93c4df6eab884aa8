import type { Resolution, Resolver } from './origin-proxy.js';
import { PLAIN } from './routing/origin-options.js';
import type { RouteTable } from './routing/route-table.js';

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
