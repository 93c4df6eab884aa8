import type http2 from 'node:http2';
import { PLAIN, type OriginOptions } from './origin-options.js';
import { redirectLocation, rewritePath } from './path-modifiers.js';
import type { Backend, RouteTable } from './route-table.js';
import { isPreflight } from './cors.js';
import { pickWeighted, type HeaderEdits, type Mirror, type RouteEdits } from './rule-action.js';
import type { Upstream } from './upstreams.js';

/**
 * Where a request goes: an origin (with the endpoints it was picked from, for retries and passive
 * health, and the Gateway API filters' header edits) or the agent's own answer (with a Location for
 * a redirect). `route` is the matched rule's host (bounded, for metric labels), not the visitor's Host.
 */
export type Resolution =
  | {
      origin: string;
      path: string;
      route: string;
      upstream?: Upstream;
      options?: OriginOptions;
      edits?: RouteEdits;
      /** a Gateway API rule's timeouts: the whole exchange must end within this many ms of arrival */
      timeoutMs?: number;
      /** a Gateway API rule's RequestMirror filters */
      mirrors?: readonly Mirror[];
    }
  | { status: number; message: string; route: string; location?: string; headers?: readonly string[] };

/**
 * host: lower case, no port; path: normalized, with its query; the method and headers for Gateway
 * API matches and for hash load balancing.
 */
export type Resolver = (
  host: string,
  path: string,
  method: string,
  headers: http2.IncomingHttpHeaders,
) => Resolution;

/**
 * The two ways the agent picks an origin: one static URL for every request (`--url`, as
 * `cloudflared tunnel --url` does), or the route table of the moment.
 */
export function staticResolver(url: URL): Resolver {
  const base = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const origin = url.origin;
  return (_host, path) => ({ origin, path: base + path, route: '*' });
}

export function routeResolver(table: () => RouteTable): Resolver {
  return (host, path, method, headers): Resolution => {
    const q = path.indexOf('?');
    const bare = q >= 0 ? path.slice(0, q) : path;
    const c = table().route(host, bare, method, headers, path);
    if (c === null) return { status: 404, message: `No route matches ${host}${path}.`, route: 'unmatched' };
    const a = c.action;
    if (a.kind !== 'rule') return toBackend(a, path, headers, undefined, a.host);
    let corsEdits: HeaderEdits | null = null;
    if (a.cors !== null) {
      const origin = headers.origin;
      if (typeof origin === 'string') {
        if (isPreflight(method, headers))
          return { status: 204, message: '', route: a.host, headers: a.cors.preflight(origin, headers) };
        corsEdits = a.cors.response(origin);
      }
    }
    if (a.redirect !== null)
      return {
        status: a.redirect.statusCode,
        message: 'Redirecting.',
        route: a.host,
        location: redirectLocation(a.redirect, host, headers, bare, q >= 0 ? path.slice(q) : '', c),
      };
    const wb = pickWeighted(a);
    if (wb === null)
      return {
        status: a.unavailableStatus,
        message: `${a.description} has no backend to send to.`,
        route: a.host,
      };
    if (wb.backend.kind === 'unavailable')
      return {
        status: a.unavailableStatus,
        message: `Backend unavailable: ${wb.backend.reason}.`,
        route: a.host,
      };
    const target =
      a.rewrite?.path == null ? path : rewritePath(a.rewrite.path, bare, c) + (q >= 0 ? path.slice(q) : '');
    const edits =
      corsEdits === null
        ? (wb.edits ?? undefined)
        : {
            request: wb.edits?.request ?? [],
            response: [...(wb.edits?.response ?? []), corsEdits],
            host: wb.edits?.host ?? null,
          };
    const r = toBackend(wb.backend, target, headers, edits, a.host);
    if (!('status' in r)) {
      if (a.timeoutMs > 0) r.timeoutMs = a.timeoutMs;
      if (a.mirrors !== null) r.mirrors = a.mirrors;
    }
    return r;
  };
}

function toBackend(
  b: Backend,
  path: string,
  headers: http2.IncomingHttpHeaders,
  edits: RouteEdits | undefined,
  route: string,
): Resolution {
  if (b.kind === 'unavailable') return { status: 503, message: `Service unavailable: ${b.reason}.`, route };
  const ep = b.upstream.pick(headers);
  if (ep === null) {
    return {
      status: 503,
      message: `Service unavailable: ${b.upstream.namespace}/${b.upstream.service} has no ready endpoint.`,
      route,
    };
  }
  const o = b.origin;
  return {
    origin: o.tls ? ep.tlsOrigin : ep.origin,
    path,
    route,
    upstream: b.upstream,
    options: o === PLAIN ? undefined : o,
    edits,
  };
}
