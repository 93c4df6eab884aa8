import type http2 from 'node:http2';
import type { RouteCandidate } from './route-table.js';
import type { PathModifier, RedirectSpec } from './rule-action.js';

/**
 * The path a URLRewrite or RequestRedirect filter makes of the request's (normalized, without query):
 * ReplaceFullPath replaces it, ReplacePrefixMatch replaces the PathPrefix the request matched, on
 * element boundaries, so that `/foo` → `/` makes `/foo/bar` into `/bar`, not `//bar`.
 */
export function rewritePath(mod: PathModifier, path: string, matched: RouteCandidate): string {
  if (mod.type === 'ReplaceFullPath') return mod.value;
  const prefix = matched.prefix === '/' ? '' : matched.prefix;
  const rest = path.slice(prefix.length);
  if (rest === '') return mod.value === '' ? '/' : mod.value;
  const value = mod.value.endsWith('/') ? mod.value.slice(0, -1) : mod.value;
  return value + rest;
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * The Location of a RequestRedirect: what the filter sets, and the request's own scheme, host and
 * path otherwise. The scheme a visitor used is what the edge says in X-Forwarded-Proto (`http` when it
 * says anything else); a port appears only when one is set and is not its scheme's well-known port.
 */
export function redirectLocation(
  r: RedirectSpec,
  host: string,
  headers: http2.IncomingHttpHeaders,
  path: string,
  query: string,
  matched: RouteCandidate,
): string {
  const proto = headers['x-forwarded-proto'];
  const scheme = r.scheme ?? (proto === 'https' ? 'https' : 'http');
  const port = r.port !== null && r.port !== DEFAULT_PORTS[scheme] ? `:${r.port}` : '';
  const p = r.path === null ? path : rewritePath(r.path, path, matched);
  return `${scheme}://${r.hostname ?? host}${port}${p}${query}`;
}
