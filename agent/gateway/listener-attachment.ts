import { SECRET_PENDING, type SecretLookup } from '../routing/origin-options.js';
import type { granted } from './backend-refs.js';
import { keyOf } from '../routing/types.js';
import {
  GATEWAY_GROUP,
  type Gateway,
  type Listener,
  type ParentReference,
  type RouteKind,
} from './gateway-types.js';

/** The route kinds an HTTP or HTTPS listener takes when its allowedRoutes names none: both that the agent serves. */
export const HTTP_ROUTE_KINDS: readonly RouteKind[] = ['GRPCRoute', 'HTTPRoute'];

type LabelSelector = NonNullable<
  NonNullable<NonNullable<Listener['allowedRoutes']>['namespaces']>['selector']
>;

/** One listener of one of our Gateways, with what it lets attach worked out once. */
export interface ListenerView {
  /** the Gateway, NS/NAME */
  gateway: string;
  name: string;
  /** lower case; null for a listener without a hostname (any host) */
  hostname: string | null;
  port: number;
  protocol: string;
  /** routes of which namespaces may attach: the Gateway's own, all, or those a selector picks */
  from: 'Same' | 'All' | { selector: LabelSelector };
  /** the route kinds it takes that the agent supports */
  kinds: ReadonlySet<string>;
  /** kinds allowedRoutes names that the agent does not support (the listener's ResolvedRefs says so) */
  invalidKinds: string[];
  /** HTTP or HTTPS: the protocols the agent serves through the edge */
  supported: boolean;
  /** another listener on its port has its hostname, or another protocol: no route attaches */
  conflict: 'HostnameConflict' | 'ProtocolConflict' | null;
  /** why an HTTPS listener's certificateRefs do not resolve (the edge terminates TLS either way) */
  certificateProblem: { reason: 'InvalidCertificateRef' | 'RefNotPermitted'; message: string } | null;
}

/** granted() with the grants of the moment bound: whether a ReferenceGrant allows the reference. */
export type GrantCheck = (...args: DropFirst<Parameters<typeof granted>>) => boolean;
type DropFirst<T extends unknown[]> = T extends [unknown, ...infer R] ? R : never;

/**
 * A certificateRef's Secret as the API wants it: a `kubernetes.io/tls` Secret's tls.crt and tls.key,
 * both PEM. Pending while the agent has not read it yet (no verdict then).
 */
function tlsSecretProblem(secret: ReturnType<SecretLookup>, ref: string): string | null {
  if (secret === SECRET_PENDING) return null;
  if (secret === undefined) return `Secret ${ref} does not exist`;
  const pem = (v: string | undefined) => v !== undefined && v.includes('-----BEGIN ');
  if (!pem(secret['tls.crt']) || !pem(secret['tls.key']))
    return `Secret ${ref} holds no PEM tls.crt and tls.key`;
  return null;
}

/**
 * Each listener of a Gateway with what it takes worked out. An HTTPS listener's certificateRefs are
 * checked as the API says (kind, ReferenceGrant, the Secret there and a TLS pair in it; `secrets`
 * reads it, never logging it) although the edge terminates TLS with its own certificates.
 */
export function listenersOf(
  gw: Gateway,
  granted: GrantCheck = () => false,
  secrets: SecretLookup = () => SECRET_PENDING,
): ListenerView[] {
  const gateway = keyOf(gw.metadata);
  const gwNs = gw.metadata?.namespace ?? '';
  const all = gw.spec?.listeners ?? [];
  const conflictOf = (l: Listener): ListenerView['conflict'] => {
    const samePort = all.filter((o) => o !== l && o.port === l.port);
    if (samePort.some((o) => o.protocol !== l.protocol)) return 'ProtocolConflict';
    if (samePort.some((o) => (o.hostname ?? '').toLowerCase() === (l.hostname ?? '').toLowerCase()))
      return 'HostnameConflict';
    return null;
  };
  const certificateProblemOf = (l: Listener): ListenerView['certificateProblem'] => {
    if (l.protocol !== 'HTTPS') return null;
    for (const ref of l.tls?.certificateRefs ?? []) {
      const group = ref.group ?? '';
      const kind = ref.kind ?? 'Secret';
      if (group !== '' || kind !== 'Secret')
        return {
          reason: 'InvalidCertificateRef',
          message: `${group === '' ? 'core' : group}/${kind} is not a Secret`,
        };
      const ns = ref.namespace ?? gwNs;
      if (ns !== gwNs && !granted('Gateway', gwNs, ns, '', 'Secret', ref.name ?? ''))
        return {
          reason: 'RefNotPermitted',
          message: `no ReferenceGrant in namespace ${ns} lets Gateways of ${gwNs} refer to Secret ${ref.name ?? ''}`,
        };
      const problem = tlsSecretProblem(secrets(ns, ref.name ?? ''), `${ns}/${ref.name ?? ''}`);
      if (problem !== null) return { reason: 'InvalidCertificateRef', message: problem };
    }
    return null;
  };
  return all.map((l): ListenerView => {
    const protocol = l.protocol ?? '';
    const fromSpec = l.allowedRoutes?.namespaces?.from ?? 'Same';
    const selector = l.allowedRoutes?.namespaces?.selector;
    const from = fromSpec === 'All' ? 'All' : fromSpec === 'Selector' ? { selector: selector ?? {} } : 'Same';
    const kinds = new Set<string>();
    const invalidKinds: string[] = [];
    const asked = l.allowedRoutes?.kinds;
    if (asked === undefined || asked.length === 0) for (const k of HTTP_ROUTE_KINDS) kinds.add(k);
    else
      for (const k of asked) {
        const ok =
          (k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && HTTP_ROUTE_KINDS.includes(k.kind as RouteKind);
        if (ok) kinds.add(k.kind as string);
        else invalidKinds.push(`${k.group ?? GATEWAY_GROUP}/${k.kind ?? ''}`);
      }
    return {
      gateway,
      name: l.name ?? '',
      hostname: l.hostname === undefined || l.hostname === '' ? null : l.hostname.toLowerCase(),
      port: l.port ?? 0,
      protocol,
      from,
      kinds,
      invalidKinds,
      supported: protocol === 'HTTP' || protocol === 'HTTPS',
      conflict: conflictOf(l),
      certificateProblem: certificateProblemOf(l),
    };
  });
}

/** Whether labels satisfy a Kubernetes label selector (matchLabels and matchExpressions, ANDed). */
export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const key = e.key ?? '';
    const has = Object.hasOwn(labels, key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[key] as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key] as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * The hostname a route hostname and a listener hostname have in common, or null: the more specific
 * of the two when one covers the other (`*.example.com` covers `a.example.com` and `*.a.example.com`,
 * not `example.com`).
 */
export function intersectHostnames(route: string, listener: string): string | null {
  if (route === listener) return route;
  const rw = route.startsWith('*.');
  const lw = listener.startsWith('*.');
  if (lw && route.endsWith(listener.slice(1))) return route;
  if (rw && listener.endsWith(route.slice(1))) return listener;
  return null;
}

/** Why a parentRef of ours does not take the route, as the route's Accepted condition says. */
export interface Refusal {
  reason: 'NoMatchingParent' | 'NotAllowedByListeners' | 'NoMatchingListenerHostname';
  message: string;
}

/** Where a route attaches through one parentRef: the listeners and the hostnames it serves there. */
export interface Attachment {
  listeners: ListenerView[];
  /** '' for any host; `*.suffix` for wildcards */
  hostnames: string[];
}

export interface AttachInput {
  kind: RouteKind;
  namespace: string;
  /** the route's hostnames, lower case; empty for any */
  hostnames: readonly string[];
  /** a namespace's labels, for allowedRoutes selectors */
  namespaceLabels(ns: string): Readonly<Record<string, string>> | undefined;
}

/** The Gateway a parentRef names (NS/NAME), or null when it names something other than a Gateway. */
export function parentGateway(ref: ParentReference, routeNamespace: string): string | null {
  if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway') return null;
  return `${ref.namespace ?? routeNamespace}/${ref.name ?? ''}`;
}

/**
 * Attaches a route to the listeners of one of our Gateways that its parentRef selects (by
 * sectionName and port when given), that allow its namespace and kind, and whose hostnames intersect
 * its own, as the Gateway API's route attachment rules say.
 */
export function attach(
  ref: ParentReference,
  listeners: readonly ListenerView[],
  gatewayNamespace: string,
  input: AttachInput,
): Attachment | Refusal {
  const named = listeners.filter(
    (l) =>
      (ref.sectionName === undefined || l.name === ref.sectionName) &&
      (ref.port === undefined || l.port === ref.port),
  );
  if (named.length === 0)
    return {
      reason: 'NoMatchingParent',
      message: `the Gateway has no listener${ref.sectionName === undefined ? '' : ` named "${ref.sectionName}"`}${ref.port === undefined ? '' : ` on port ${ref.port}`}`,
    };
  const allowed = named.filter((l) => {
    if (!l.supported || l.conflict !== null || !l.kinds.has(input.kind)) return false;
    if (l.from === 'All') return true;
    if (l.from === 'Same') return input.namespace === gatewayNamespace;
    const labels = input.namespaceLabels(input.namespace);
    return labels !== undefined && selects(l.from.selector, labels);
  });
  if (allowed.length === 0)
    return {
      reason: 'NotAllowedByListeners',
      message: `no listener of the Gateway allows ${input.kind}s from namespace ${input.namespace}`,
    };
  const hostnames = new Set<string>();
  const matching: ListenerView[] = [];
  for (const l of allowed) {
    let any = false;
    if (l.hostname === null) {
      if (input.hostnames.length === 0) hostnames.add('');
      else for (const h of input.hostnames) hostnames.add(h);
      any = true;
    } else if (input.hostnames.length === 0) {
      hostnames.add(l.hostname);
      any = true;
    } else
      for (const h of input.hostnames) {
        const both = intersectHostnames(h, l.hostname);
        if (both !== null) {
          hostnames.add(both);
          any = true;
        }
      }
    if (any) matching.push(l);
  }
  if (matching.length === 0)
    return {
      reason: 'NoMatchingListenerHostname',
      message: `no hostname of the route matches a listener's hostname`,
    };
  return { listeners: matching, hostnames: [...hostnames] };
}
