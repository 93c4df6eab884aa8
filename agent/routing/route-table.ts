import type http2 from 'node:http2';
import type { RE2JS } from 're2js';
import type { OriginOptions } from './origin-options.js';
import type { RequestConditions } from './request-match.js';
import type { RuleAction } from './rule-action.js';
import type { Upstream } from './upstreams.js';

/**
 * One Service port to send to, or why there is none. `host` is the rule's host ('*' without one,
 * 'default' for a default backend): a bounded metric label. `source` names the object that asked
 * for it (`ingress/NS/NAME`, `httproute/NS/NAME`).
 */
export type Backend =
  | {
      kind: 'service';
      upstream: Upstream;
      source: string;
      description: string;
      host: string;
      /** how to connect: plain HTTP, or TLS with its verification settings */
      origin: OriginOptions;
    }
  | { kind: 'unavailable'; reason: string; source: string; description: string; host: string };

/** What a matched request gets: an Ingress backend, or a Gateway API rule (filters, weighted backends). */
export type RouteAction = Backend | RuleAction;

/**
 * One way into an action at one path of one host: the path test is where the candidate is filed
 * (exact map, prefix map or the regular-expression list); `conditions` is the rest (method, headers,
 * query), null for every Ingress path. Made at compile time, never per request.
 */
export interface RouteCandidate {
  readonly conditions: RequestConditions | null;
  readonly action: RouteAction;
  /** the PathPrefix this candidate was filed under ('/abc' for '/abc/'), '' for Exact and regular expressions */
  readonly prefix: string;
}

/** A candidate as it is filed, with what orders it among others at one path (the Gateway API's precedence). */
export interface FiledCandidate {
  candidate: RouteCandidate;
  /** characters of the PathPrefix as written (longer first) */
  prefixChars: number;
  hasMethod: boolean;
  headers: number;
  query: number;
  /** the source object's creation time (older first), then its namespace/name, then rule and match index */
  created: number;
  owner: string;
  index: number;
}

function firstOf(
  list: readonly RouteCandidate[],
  method: string,
  headers: http2.IncomingHttpHeaders,
  target: string,
): RouteCandidate | undefined {
  // Most lists hold one candidate without conditions (every Ingress path): no loop for them.
  const first = list[0] as RouteCandidate;
  if (first.conditions === null) return first;
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as RouteCandidate;
    if (c.conditions === null || c.conditions.test(method, headers, target)) return c;
  }
  return undefined;
}

/**
 * The routes of one host (or one wildcard, or of any host): exact paths, then regular expressions,
 * then prefixes from the longest. `ingress` says an Ingress rule is filed here: the Ingress API
 * does not fall through from a host that has rules to a less specific one, the Gateway API does.
 */
export class HostRoutes {
  constructor(
    private readonly exact: ReadonlyMap<string, readonly RouteCandidate[]>,
    private readonly prefix: ReadonlyMap<string, readonly RouteCandidate[]>,
    private readonly regex: ReadonlyArray<{ re: RE2JS; candidate: RouteCandidate }>,
    readonly ingress: boolean,
  ) {}

  match(
    path: string,
    method: string,
    headers: http2.IncomingHttpHeaders,
    target: string,
  ): RouteCandidate | undefined {
    const e = this.exact.get(path);
    if (e !== undefined) {
      const c = firstOf(e, method, headers, target);
      if (c !== undefined) return c;
    }
    if (this.regex.length > 0)
      for (const r of this.regex)
        if (
          r.re.matches(path) &&
          (r.candidate.conditions === null || r.candidate.conditions.test(method, headers, target))
        )
          return r.candidate;
    if (this.prefix.size === 0) return undefined;
    let cand = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path;
    for (;;) {
      const list = this.prefix.get(cand);
      if (list !== undefined) {
        const c = firstOf(list, method, headers, target);
        if (c !== undefined) return c;
      }
      if (cand === '/') return undefined;
      const i = cand.lastIndexOf('/');
      cand = i <= 0 ? '/' : cand.slice(0, i);
    }
  }
}

/** A line of /debug/routes and of DNS automation's input: one path of one host and what serves it. */
export interface RouteEntry {
  /** '' for rules without a host, `*.suffix` for wildcards */
  host: string;
  path: string;
  pathType: string;
  /** `ingress/NS/NAME` or `httproute/NS/NAME` */
  source: string;
  action: RouteAction;
}

const NO_HEADERS: http2.IncomingHttpHeaders = {};

/**
 * Every route of every source (Ingress, Gateway API) compiled into one immutable table, swapped in
 * with one assignment. Hosts are looked up most specific first: the exact host, a wildcard one
 * label up (Ingress and Gateway API alike), then Gateway API wildcards further up (`*.example.com`
 * matches `a.b.example.com` there, not in the Ingress API), then rules without a host, then the
 * Ingress default backend. Lookups are map reads over the path's element boundaries; only
 * candidates with conditions or regular expressions cost more.
 */
export class RouteTable {
  private readonly servedSet: ReadonlySet<string>;
  /** the default backend as a candidate: what a request that matches nothing gets */
  private readonly fallback: RouteCandidate | null;

  constructor(
    readonly generation: number,
    private readonly exactHosts: ReadonlyMap<string, HostRoutes>,
    private readonly wildcardHosts: ReadonlyMap<string, HostRoutes>,
    private readonly deepWildcardHosts: ReadonlyMap<string, HostRoutes>,
    private readonly anyHost: HostRoutes | null,
    readonly defaultBackend: Backend | null,
    readonly entries: readonly RouteEntry[],
    /** the sources whose objects are part of this table (`ingress/NS/NAME`, …) */
    readonly sources: readonly string[],
  ) {
    this.servedSet = new Set(sources);
    this.fallback = defaultBackend === null ? null : { conditions: null, action: defaultBackend, prefix: '' };
  }

  /** Whether the object (`ingress/NS/NAME`, `httproute/NS/NAME`) is part of this table. */
  serves(source: string): boolean {
    return this.servedSet.has(source);
  }

  static empty(): RouteTable {
    return new RouteTable(0, new Map(), new Map(), new Map(), null, null, [], []);
  }

  /**
   * `host` lower case without port; `path` normalized, without query string; `target` the request's
   * path with its query string, which only a route with query parameter matches reads (so that no
   * other request pays for cutting the query out).
   */
  route(
    host: string,
    path: string,
    method: string,
    headers: http2.IncomingHttpHeaders,
    target: string,
  ): RouteCandidate | null {
    const exact = this.exactHosts.get(host);
    if (exact !== undefined) {
      const c = exact.match(path, method, headers, target);
      if (c !== undefined) return c;
      if (exact.ingress) return this.fallback;
    }
    let dot = host.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcardHosts.get(host.slice(dot + 1));
      if (wild !== undefined) {
        const c = wild.match(path, method, headers, target);
        if (c !== undefined) return c;
        if (wild.ingress) return this.fallback;
      }
      if (this.deepWildcardHosts.size > 0)
        for (dot = host.indexOf('.', dot + 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
          const deep = this.deepWildcardHosts.get(host.slice(dot + 1));
          if (deep === undefined) continue;
          const c = deep.match(path, method, headers, target);
          if (c !== undefined) return c;
        }
    }
    if (this.anyHost !== null) {
      const c = this.anyHost.match(path, method, headers, target);
      if (c !== undefined) return c;
    }
    return this.fallback;
  }

  /** The action for a GET without headers or query: what Ingress-only callers and tests ask. */
  lookup(host: string, path: string): RouteAction | null {
    return this.route(host, path, 'GET', NO_HEADERS, '')?.action ?? null;
  }

  /** The exact and wildcard hosts with routes (not rules without a host). */
  get hosts(): string[] {
    return [...this.exactHosts.keys(), ...[...this.wildcardHosts.keys()].map((h) => `*.${h}`)];
  }
}

/** Host as a request carries it: lower case, no port, no trailing dot. */
export function normalizeHost(authority: string): string {
  let h = authority;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    return (end > 0 ? h.slice(0, end + 1) : h).toLowerCase();
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}
