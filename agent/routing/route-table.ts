import {
  ORIGIN_INSECURE,
  PLAIN,
  originOptions,
  type OriginOptions,
  type OriginProblem,
  type SecretLookup,
  ORIGIN_CA_SECRET,
} from './origin-options.js';
import { LOAD_BALANCE_ANNOTATION, ROUND_ROBIN, parsePolicy } from './load-balancer.js';
import { Upstream, upstreamKey, type UpstreamSpec } from './upstreams.js';
import { keyOf, timeOf, type Ingress, type IngressBackend, type Service } from './types.js';

/**
 * Ingress routing as the Ingress API defines it, compiled once into an immutable table:
 *  - hosts: exact, or `*.suffix` matching exactly one more label; rules without a host match any host;
 *    an exact host beats a wildcard, a wildcard beats host-less rules; no fallthrough between them;
 *  - paths: Exact, and Prefix matched element by element (a trailing slash is ignored);
 *    ImplementationSpecific is treated as Prefix; the longest match wins and Exact beats Prefix at
 *    equal length;
 *  - rules of all Ingresses for a host merge; a duplicate host+path+type goes to the oldest Ingress;
 *  - spec.defaultBackend (oldest wins) serves what matches no rule.
 * Lookups are map reads over the request path's element boundaries: no regular expressions, no
 * allocation but one substring per boundary.
 */
/** `host` is the rule's host ('*' without one, 'default' for a default backend): a bounded metric label. */
export type Backend =
  | {
      kind: 'service';
      upstream: Upstream;
      ingress: string;
      description: string;
      host: string;
      /** how to connect: plain HTTP, or TLS with its verification settings */
      origin: OriginOptions;
    }
  | { kind: 'unavailable'; reason: string; ingress: string; description: string; host: string };

export interface Diagnostic {
  ingress: string;
  type: 'Warning' | 'Normal';
  reason: string;
  message: string;
}

export interface RouteEntry {
  host: string;
  path: string;
  pathType: string;
  backend: Backend;
}

class HostRoutes {
  readonly exact = new Map<string, Backend>();
  readonly prefix = new Map<string, Backend>();

  match(path: string): Backend | undefined {
    const e = this.exact.get(path);
    if (e !== undefined) return e;
    if (this.prefix.size === 0) return undefined;
    let cand = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path;
    for (;;) {
      const b = this.prefix.get(cand);
      if (b !== undefined) return b;
      if (cand === '/') return undefined;
      const i = cand.lastIndexOf('/');
      cand = i <= 0 ? '/' : cand.slice(0, i);
    }
  }
}

export class RouteTable {
  constructor(
    readonly generation: number,
    private readonly exactHosts: ReadonlyMap<string, HostRoutes>,
    private readonly wildcardHosts: ReadonlyMap<string, HostRoutes>,
    private readonly anyHost: HostRoutes | null,
    readonly defaultBackend: Backend | null,
    readonly entries: readonly RouteEntry[],
    readonly ingresses: readonly string[],
  ) {
    this.servedSet = new Set(ingresses);
  }

  private readonly servedSet: ReadonlySet<string>;

  /** Whether the Ingress `namespace/name` is part of this table. */
  serves(ingress: string): boolean {
    return this.servedSet.has(ingress);
  }

  static empty(): RouteTable {
    return new RouteTable(0, new Map(), new Map(), null, null, [], []);
  }

  /** `host` lower-case without port; `path` without query string. */
  lookup(host: string, path: string): Backend | null {
    let hr = this.exactHosts.get(host);
    if (hr === undefined) {
      const dot = host.indexOf('.');
      if (dot > 0) hr = this.wildcardHosts.get(host.slice(dot + 1));
    }
    if (hr === undefined && this.anyHost !== null) hr = this.anyHost;
    if (hr !== undefined) {
      const b = hr.match(path);
      if (b !== undefined) return b;
    }
    return this.defaultBackend;
  }

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

export interface CompileInput {
  ingresses: readonly Ingress[];
  services: ReadonlyMap<string, Service>;
  /** the upstreams in use now, read only: a route to the same Service port keeps its upstream */
  existing?(key: string): Upstream | undefined;
  generation: number;
  /** a Secret's decoded data, for origin CA bundles */
  secret?: SecretLookup;
}

const HOST_RE = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function oldestFirst(a: Ingress, b: Ingress): number {
  const d = timeOf(a.metadata?.creationTimestamp) - timeOf(b.metadata?.creationTimestamp);
  if (d !== 0) return d;
  const ka = keyOf(a.metadata);
  const kb = keyOf(b.metadata);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Compiles Ingresses into a table, and changes nothing else: upstreams the table needs are taken from
 * `existing` or made new (unregistered, without endpoints), and each comes back as a spec (its Service
 * port and its load-balancing policy). UpstreamRegistry.apply() then registers the new ones, fills
 * their endpoints and sets the policies, just before the table is swapped in; until then the table in
 * use sees nothing of the compile.
 */
export function compileRoutes(input: CompileInput): {
  table: RouteTable;
  diagnostics: Diagnostic[];
  upstreams: Map<string, UpstreamSpec>;
} {
  const diagnostics: Diagnostic[] = [];
  const upstreams = new Map<string, UpstreamSpec>();
  const exactHosts = new Map<string, HostRoutes>();
  const wildcardHosts = new Map<string, HostRoutes>();
  let anyHost: HostRoutes | null = null;
  let defaultBackend: Backend | null = null;
  const entries: RouteEntry[] = [];
  const owners = new Map<string, string>();
  const sorted = [...input.ingresses].sort(oldestFirst);
  const warn = (ingress: string, reason: string, message: string) =>
    diagnostics.push({ ingress, type: 'Warning', reason, message });

  const resolve = (
    ing: Ingress,
    ingKey: string,
    backend: IngressBackend | undefined,
    where: string,
    host: string,
    origin: OriginOptions = PLAIN,
  ): Backend | null => {
    const ns = ing.metadata?.namespace ?? 'default';
    if (origin.pendingSecret != null) {
      return {
        kind: 'unavailable',
        reason: `waiting for Secret ${origin.pendingSecret} (${ORIGIN_CA_SECRET})`,
        ingress: ingKey,
        description: `${ns}/${backend?.service?.name ?? '?'}`,
        host,
      };
    }
    if (backend?.resource !== undefined) {
      warn(
        ingKey,
        'UnsupportedBackend',
        `${where}: resource backends (${backend.resource.kind ?? '?'}/${backend.resource.name ?? '?'}) are not supported; only Service backends are`,
      );
      return null;
    }
    const svcName = backend?.service?.name;
    if (svcName === undefined || svcName === '') {
      warn(ingKey, 'InvalidBackend', `${where}: the backend names no Service`);
      return null;
    }
    const port = backend?.service?.port;
    const description = `${ns}/${svcName}:${port?.number ?? port?.name ?? '?'}`;
    const svc = input.services.get(`${ns}/${svcName}`);
    if (svc === undefined) {
      warn(ingKey, 'ServiceNotFound', `${where}: Service ${ns}/${svcName} does not exist`);
      return {
        kind: 'unavailable',
        reason: `Service ${ns}/${svcName} does not exist`,
        ingress: ingKey,
        description,
        host,
      };
    }
    const sp = (svc.spec?.ports ?? []).find((p) =>
      port?.number !== undefined ? p.port === port.number : port?.name !== undefined && p.name === port.name,
    );
    if (sp === undefined || sp.port === undefined) {
      warn(
        ingKey,
        'UnknownServicePort',
        `${where}: Service ${ns}/${svcName} has no port ${port?.number ?? port?.name ?? '(none given)'}`,
      );
      return {
        kind: 'unavailable',
        reason: `Service ${ns}/${svcName} has no port ${port?.number ?? port?.name ?? ''}`,
        ingress: ingKey,
        description,
        host,
      };
    }
    const portName = sp.name ?? '';
    const key = upstreamKey(ns, svcName, portName);
    let spec = upstreams.get(key);
    if (spec === undefined) {
      const upstream = input.existing?.(key) ?? new Upstream(ns, svcName, portName, sp.port);
      spec = { key, upstream, policy: ROUND_ROBIN };
      upstreams.set(key, spec);
    }
    const upstream = spec.upstream;
    const lb = svc.metadata?.annotations?.[LOAD_BALANCE_ANNOTATION];
    let policy = ROUND_ROBIN;
    if (lb !== undefined) {
      const parsed = parsePolicy(lb);
      if (parsed === null)
        warn(
          ingKey,
          'InvalidAnnotation',
          `${where}: Service ${ns}/${svcName} has ${LOAD_BALANCE_ANNOTATION}="${lb}", which is not round-robin, least-request, hash:header:NAME, hash:cookie:NAME or hash:client-ip; using round-robin`,
        );
      else policy = parsed;
    }
    spec.policy = policy;
    return { kind: 'service', upstream, ingress: ingKey, description, host, origin };
  };

  for (const ing of sorted) {
    const ingKey = keyOf(ing.metadata);
    const problems: OriginProblem[] = [];
    const origin = originOptions(ing, input.secret ?? (() => undefined), problems);
    for (const p of problems) warn(ingKey, p.reason, p.message);
    if (origin.insecure)
      warn(
        ingKey,
        'OriginTLSUnverified',
        `origin certificates are not verified (${ORIGIN_INSECURE}: "true")`,
      );
    if (ing.spec?.defaultBackend !== undefined) {
      const b = resolve(ing, ingKey, ing.spec.defaultBackend, 'spec.defaultBackend', 'default', origin);
      if (b !== null) {
        if (defaultBackend === null) defaultBackend = b;
        else
          warn(
            ingKey,
            'ConflictingDefaultBackend',
            `spec.defaultBackend is ignored: ${defaultBackend.ingress} is older and already provides the default backend`,
          );
      }
    }
    (ing.spec?.rules ?? []).forEach((rule, i) => {
      const rawHost = (rule.host ?? '').toLowerCase();
      if (rawHost !== '' && !HOST_RE.test(rawHost)) {
        warn(
          ingKey,
          'InvalidHost',
          `spec.rules[${i}].host "${rule.host ?? ''}" is not a valid host name or wildcard`,
        );
        return;
      }
      let hr: HostRoutes;
      if (rawHost === '') hr = anyHost ??= new HostRoutes();
      else if (rawHost.startsWith('*.')) {
        const suffix = rawHost.slice(2);
        hr = wildcardHosts.get(suffix) ?? new HostRoutes();
        wildcardHosts.set(suffix, hr);
      } else {
        hr = exactHosts.get(rawHost) ?? new HostRoutes();
        exactHosts.set(rawHost, hr);
      }
      (rule.http?.paths ?? []).forEach((p, j) => {
        const where = `spec.rules[${i}].http.paths[${j}]`;
        const pathType = p.pathType ?? 'ImplementationSpecific';
        const path = p.path ?? '/';
        if (pathType !== 'Exact' && pathType !== 'Prefix' && pathType !== 'ImplementationSpecific') {
          warn(ingKey, 'InvalidPath', `${where}: unknown pathType "${pathType}"`);
          return;
        }
        if (!path.startsWith('/') || path.includes('?') || path.includes('#') || /\/\/|\s/.test(path)) {
          warn(
            ingKey,
            'InvalidPath',
            `${where}: path "${path}" must be an absolute path without query, fragment, blanks or empty elements`,
          );
          return;
        }
        const exact = pathType === 'Exact';
        const key = exact ? path : path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
        const ownerKey = `${rawHost}\u0000${exact ? 'E' : 'P'}\u0000${key}`;
        const owner = owners.get(ownerKey);
        if (owner !== undefined) {
          warn(
            ingKey,
            'ConflictingRule',
            `${where}: host "${rawHost || '*'}" path "${path}" (${pathType}) is already served by the older Ingress ${owner}`,
          );
          return;
        }
        const b = resolve(ing, ingKey, p.backend, where, rawHost || '*', origin);
        if (b === null) return;
        owners.set(ownerKey, ingKey);
        (exact ? hr.exact : hr.prefix).set(key, b);
        entries.push({ host: rawHost || '*', path, pathType, backend: b });
      });
    });
  }
  const table = new RouteTable(
    input.generation,
    exactHosts,
    wildcardHosts,
    anyHost,
    defaultBackend,
    entries,
    sorted.map((i) => keyOf(i.metadata)),
  );
  return { table, diagnostics, upstreams };
}
