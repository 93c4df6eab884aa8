import {
  ORIGIN_CA_SECRET,
  ORIGIN_INSECURE,
  PLAIN,
  originOptions,
  type OriginOptions,
  type OriginProblem,
  type SecretLookup,
} from './origin-options.js';
import { RouteTableBuilder } from './route-table-builder.js';
import type { Backend, RouteTable } from './route-table.js';
import { ServiceBackends, type BackendProblem } from './service-backends.js';
import { keyOf, timeOf, type Ingress, type IngressBackend, type Service } from './types.js';
import type { Upstream, UpstreamSpec } from './upstreams.js';

/** A problem with one Ingress, for a Warning Event on it. */
export interface Diagnostic {
  /** NS/NAME */
  ingress: string;
  type: 'Warning' | 'Normal';
  reason: string;
  message: string;
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
 * Ingress routing as the Ingress API defines it, filed into the shared route table builder:
 *  - hosts: exact, or `*.suffix` matching exactly one more label; rules without a host match any host;
 *    an exact host beats a wildcard, a wildcard beats host-less rules; no fallthrough between them;
 *  - paths: Exact, and Prefix matched element by element (a trailing slash is ignored);
 *    ImplementationSpecific is treated as Prefix; the longest match wins and Exact beats Prefix at
 *    equal length;
 *  - rules of all Ingresses for a host merge; a duplicate host+path+type goes to the oldest Ingress;
 *  - spec.defaultBackend (oldest wins) serves what matches no rule.
 */
export function addIngressRoutes(
  ingresses: readonly Ingress[],
  builder: RouteTableBuilder,
  backends: ServiceBackends,
  secret: SecretLookup,
): { diagnostics: Diagnostic[]; defaultBackend: Backend | null; sources: string[] } {
  const diagnostics: Diagnostic[] = [];
  let defaultBackend: Backend | null = null;
  const owners = new Map<string, string>();
  const sorted = [...ingresses].sort(oldestFirst);
  const warn = (ingress: string, reason: string, message: string) =>
    diagnostics.push({ ingress, type: 'Warning', reason, message });
  const backendProblems: BackendProblem[] = [];

  const resolve = (
    ing: Ingress,
    ingKey: string,
    /** `ingress/NS/NAME`, made once per Ingress */
    source: string,
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
        source,
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
    backendProblems.length = 0;
    const b = backends.resolve(
      ns,
      svcName,
      backend?.service?.port,
      { source, where, host, origin },
      backendProblems,
    );
    for (const p of backendProblems) warn(ingKey, p.reason, p.message);
    return b;
  };

  const sources: string[] = [];
  for (const ing of sorted) {
    const ingKey = keyOf(ing.metadata);
    const source = `ingress/${ingKey}`;
    sources.push(source);
    const created = timeOf(ing.metadata?.creationTimestamp);
    const problems: OriginProblem[] = [];
    const origin = originOptions(ing, secret, problems);
    for (const p of problems) warn(ingKey, p.reason, p.message);
    if (origin.insecure)
      warn(
        ingKey,
        'OriginTLSUnverified',
        `origin certificates are not verified (${ORIGIN_INSECURE}: "true")`,
      );
    if (ing.spec?.defaultBackend !== undefined) {
      const b = resolve(
        ing,
        ingKey,
        source,
        ing.spec.defaultBackend,
        'spec.defaultBackend',
        'default',
        origin,
      );
      if (b !== null) {
        if (defaultBackend === null) defaultBackend = b;
        else
          warn(
            ingKey,
            'ConflictingDefaultBackend',
            `spec.defaultBackend is ignored: ${defaultBackend.source.slice('ingress/'.length)} is older and already provides the default backend`,
          );
      }
    }
    let index = 0;
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
        const b = resolve(ing, ingKey, source, p.backend, where, rawHost || '*', origin);
        if (b === null) return;
        owners.set(ownerKey, ingKey);
        builder.add(
          rawHost,
          exact ? { type: 'Exact', value: path } : { type: 'PathPrefix', value: path },
          {
            candidate: { conditions: null, action: b, prefix: exact ? '' : key },
            prefixChars: exact ? 0 : path.length,
            hasMethod: false,
            headers: 0,
            query: 0,
            created,
            owner: ingKey,
            index: index++,
          },
          true,
          pathType,
          source,
        );
      });
    });
  }
  return { diagnostics, defaultBackend, sources };
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
  const builder = new RouteTableBuilder();
  const backends = new ServiceBackends(input.services, input.existing);
  const r = addIngressRoutes(input.ingresses, builder, backends, input.secret ?? (() => undefined));
  return {
    table: builder.build(input.generation, r.defaultBackend, r.sources),
    diagnostics: r.diagnostics,
    upstreams: backends.upstreams,
  };
}
