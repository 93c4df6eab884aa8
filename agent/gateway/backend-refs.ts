import { H2C, PLAIN, type OriginOptions } from '../routing/origin-options.js';
import type { Backend } from '../routing/route-table.js';
import type { BackendProblem, ServiceBackends } from '../routing/service-backends.js';
import type { BackendTlsPolicies, PolicyOutcome } from './backend-tls.js';
import {
  GATEWAY_GROUP,
  type BackendObjectReference,
  type ReferenceGrant,
  type RouteKind,
} from './gateway-types.js';

/** Whether a ReferenceGrant in `toNs` lets `fromKind`s of `fromNs` refer to the `toKind` `name`. */
export function granted(
  grants: readonly ReferenceGrant[],
  fromKind: string,
  fromNs: string,
  toNs: string,
  toGroup: string,
  toKind: string,
  name: string,
): boolean {
  return grants.some(
    (g) =>
      g.metadata?.namespace === toNs &&
      (g.spec?.from ?? []).some(
        (f) => (f.group ?? '') === GATEWAY_GROUP && f.kind === fromKind && f.namespace === fromNs,
      ) &&
      (g.spec?.to ?? []).some(
        (t) =>
          (t.group ?? '') === toGroup &&
          t.kind === toKind &&
          (t.name === undefined || t.name === '' || t.name === name),
      ),
  );
}

/** Where a route's backendRefs are resolved: the route, its namespace, the grants and the Services. */
export interface RefContext {
  kind: RouteKind;
  namespace: string;
  /** `httproute/NS/NAME` or `grpcroute/NS/NAME` */
  source: string;
  grants: readonly ReferenceGrant[];
  backends: ServiceBackends;
  /** the BackendTLSPolicies of this compile */
  tls: BackendTlsPolicies;
  /** the policies the route's backends use (their status names the route's Gateways) */
  policies: Set<PolicyOutcome>;
  /**
   * The route's backends resolved so far, by reference: the rules of one route mostly name the same
   * Service ports, and a reference resolves the same way wherever it appears in the route.
   */
  resolved?: Map<string, { backend: Backend; problem?: BackendProblem }>;
}

/**
 * A backendRef's Service port as a backend, or an unavailable one and the ResolvedRefs reason why.
 * The origin protocol comes from the port's appProtocol; a GRPCRoute's backends speak HTTP/2 with
 * prior knowledge whatever it says short of another protocol, since gRPC has no HTTP/1.1 form.
 */
export function resolveRef(
  ref: BackendObjectReference,
  where: string,
  c: RefContext,
): { backend: Backend; problem?: BackendProblem } {
  const key = `${ref.group ?? ''}|${ref.kind ?? ''}|${ref.namespace ?? ''}|${ref.name ?? ''}|${ref.port ?? ''}`;
  const known = c.resolved?.get(key);
  // A problem's message names where it was met: only a clean resolution is reused.
  if (known !== undefined) return known;
  const r = resolveUncached(ref, where, c);
  if (r.problem === undefined) (c.resolved ??= new Map()).set(key, r);
  return r;
}

function resolveUncached(
  ref: BackendObjectReference,
  where: string,
  c: RefContext,
): { backend: Backend; problem?: BackendProblem } {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  const name = ref.name ?? '';
  const ns = c.namespace;
  const bns = ref.namespace ?? ns;
  const source = c.source;
  const description = `${bns}/${name}:${ref.port ?? '?'}`;
  const unavailable = (reason: string, message: string) => ({
    backend: { kind: 'unavailable' as const, reason: message, source, description, host: '' },
    problem: { reason, message: `${where}: ${message}` },
  });
  if (group !== '' || kind !== 'Service')
    return unavailable(
      'InvalidKind',
      `${group === '' ? 'core' : group}/${kind} is not a supported backend kind (only Service)`,
    );
  if (bns !== ns && !granted(c.grants, c.kind, ns, bns, '', 'Service', name))
    return unavailable(
      'RefNotPermitted',
      `no ReferenceGrant in namespace ${bns} lets ${c.kind}s of ${ns} refer to Service ${name}`,
    );
  if (ref.port === undefined)
    return unavailable('BackendNotFound', `the reference to Service ${bns}/${name} names no port`);
  const port = c.backends.servicePort(bns, name, { number: ref.port });
  let origin: OriginOptions = c.kind === 'GRPCRoute' ? H2C : PLAIN;
  const app = port?.appProtocol;
  if (app === 'kubernetes.io/h2c') origin = H2C;
  else if (app !== undefined && app !== '' && app !== 'http' && app !== 'kubernetes.io/ws')
    return unavailable(
      'UnsupportedProtocol',
      `Service ${bns}/${name} port ${ref.port} has appProtocol "${app}", which the agent does not speak`,
    );
  const policy = port === undefined ? null : c.tls.forPort(bns, name, port.name ?? '');
  if (policy !== null) {
    c.policies.add(policy.policy);
    const tls = origin.h2 ? policy.h2 : policy.http;
    // A policy that cannot be used fails the connection (5xx), as the API says; the route's refs
    // resolved, and the policy's own status says what is wrong.
    const waiting = tls?.pendingSecret ?? null;
    if (tls === null || waiting !== null)
      return {
        backend: {
          kind: 'unavailable',
          reason:
            waiting !== null
              ? `waiting for ${waiting} (BackendTLSPolicy ${policy.policy.key})`
              : `BackendTLSPolicy ${policy.policy.key} cannot be used: ${policy.problem ?? ''}`,
          source,
          description,
          host: '',
        },
      };
    origin = tls;
  }
  const problems: BackendProblem[] = [];
  const backend = c.backends.resolve(
    bns,
    name,
    { number: ref.port },
    { source, where, host: '', origin },
    problems,
  );
  if (backend.kind === 'unavailable')
    return {
      backend,
      problem: { reason: 'BackendNotFound', message: problems[0]?.message ?? backend.reason },
    };
  return { backend };
}
