import {
  GATEWAY_GROUP,
  type Condition,
  type Gateway,
  type GatewayClass,
  type GRPCRoute,
  type HTTPRoute,
  type BackendTLSPolicy,
  type ParentReference,
  type PolicyAncestorStatus,
  type RouteParentStatus,
} from './gateway-types.js';
import type { PolicyOutcome } from './backend-tls.js';
import type { RouteOutcome } from './gateway-routes.js';
import type { ListenerView } from './listener-attachment.js';

/**
 * The features a GatewayClass of ours lists in `status.supportedFeatures`: what the agent implements
 * and its tests show (docs/gateway-api.md has the table), sorted by name as the API requires.
 */
export const SUPPORTED_FEATURES = [
  'BackendTLSPolicy',
  'BackendTLSPolicySANValidation',
  'Gateway',
  'GatewayPort8080',
  'GRPCRoute',
  'GRPCRouteNamedRouteRule',
  'HTTPRoute',
  'HTTPRouteBackendTimeout',
  'HTTPRouteCORS',
  'HTTPRouteNamedRouteRule',
  'HTTPRouteRequestMirror',
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  'HTTPRouteRequestTimeout',
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteBackendProtocolH2C',
  'HTTPRouteBackendProtocolWebSocket',
  'HTTPRouteBackendRequestHeaderModification',
  'HTTPRouteHostRewrite',
  'HTTPRouteMethodMatching',
  'HTTPRouteParentRefPort',
  'HTTPRoutePathRedirect',
  'HTTPRoutePathRewrite',
  'HTTPRoutePortRedirect',
  'HTTPRouteQueryParamMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRouteSchemeRedirect',
  'ReferenceGrant',
].sort();

type Wanted = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

const cond = (type: string, ok: boolean, reason: string, message: string): Wanted => ({
  type,
  status: ok ? 'True' : 'False',
  reason,
  message,
});

/**
 * Conditions as they are to be written: each keeps its lastTransitionTime while its status stays,
 * as the API's conventions ask; observedGeneration is the generation they were computed from.
 */
export function withTimes(
  wanted: readonly Wanted[],
  current: readonly Condition[] | undefined,
  generation: number | undefined,
  now: string,
): Condition[] {
  return wanted.map((w) => {
    const prev = current?.find((c) => c.type === w.type);
    return {
      ...w,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime:
        prev !== undefined && prev.status === w.status && prev.lastTransitionTime !== undefined
          ? prev.lastTransitionTime
          : now,
    };
  });
}

/** Whether two condition lists say the same (times aside): no write is needed. */
export function sameConditions(a: readonly Condition[] | undefined, b: readonly Condition[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return b.every((w) => {
    const c = a.find((x) => x.type === w.type);
    return (
      c !== undefined &&
      c.status === w.status &&
      c.reason === w.reason &&
      c.message === w.message &&
      c.observedGeneration === w.observedGeneration
    );
  });
}

export function gatewayClassStatus(gc: GatewayClass, now: string) {
  const conditions = withTimes(
    [cond('Accepted', true, 'Accepted', 'handled by tunnel-ingress')],
    gc.status?.conditions,
    gc.metadata?.generation,
    now,
  );
  return { conditions, supportedFeatures: SUPPORTED_FEATURES.map((name) => ({ name })) };
}

/** A listener's status, as the Gateway's `status.listeners[]` carries it. */
function listenerStatus(l: ListenerView, attached: number, live: boolean) {
  const kinds = [...l.kinds].sort().map((kind) => ({ group: GATEWAY_GROUP, kind }));
  const wanted: Wanted[] = [];
  if (l.conflict !== null)
    wanted.push(
      cond('Accepted', false, 'Accepted', 'the listener conflicts with another of the Gateway'),
      cond(
        'Conflicted',
        true,
        l.conflict,
        `another listener on port ${l.port} has the same ${l.conflict === 'HostnameConflict' ? 'hostname' : 'port with another protocol'}`,
      ),
    );
  else if (!l.supported)
    wanted.push(
      cond(
        'Accepted',
        false,
        'UnsupportedProtocol',
        `protocol ${l.protocol} is not served; the edge serves HTTP and HTTPS`,
      ),
      cond('Conflicted', false, 'NoConflicts', 'no conflict'),
    );
  else
    wanted.push(
      cond('Accepted', true, 'Accepted', 'accepted'),
      cond('Conflicted', false, 'NoConflicts', 'no conflict'),
    );
  wanted.push(
    l.invalidKinds.length > 0
      ? cond(
          'ResolvedRefs',
          false,
          'InvalidRouteKinds',
          `route kinds not supported: ${l.invalidKinds.join(', ')}`,
        )
      : l.certificateProblem !== null
        ? cond('ResolvedRefs', false, l.certificateProblem.reason, l.certificateProblem.message)
        : cond('ResolvedRefs', true, 'ResolvedRefs', 'resolved'),
  );
  const usable = l.supported && l.conflict === null;
  wanted.push(
    usable && live
      ? cond('Programmed', true, 'Programmed', 'served through the tunnel')
      : cond(
          'Programmed',
          false,
          usable ? 'Pending' : 'Invalid',
          usable ? 'the tunnel has no live connection yet' : 'the listener is not accepted',
        ),
  );
  return { name: l.name, supportedKinds: kinds, attachedRoutes: attached, wanted };
}

/** How many accepted routes attached to each listener (`NS/GATEWAY/LISTENER`). */
export function attachedCounts(outcomes: readonly RouteOutcome[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const o of outcomes)
    for (const p of o.parents)
      if (p.accepted.status)
        for (const l of p.listeners) {
          const k = `${l.gateway}/${l.name}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
  return counts;
}

/**
 * A Gateway's whole status: its address is the tunnel's hostname (the edge sends its traffic into
 * the tunnel), Accepted when it has a listener the agent serves, Programmed while the tunnel is live.
 */
export function gatewayStatus(
  gw: Gateway,
  listeners: readonly ListenerView[],
  counts: ReadonlyMap<string, number>,
  tunnelHostname: string,
  live: boolean,
  now: string,
) {
  const generation = gw.metadata?.generation;
  const current = (gw.status ?? {}) as {
    conditions?: Condition[];
    listeners?: Array<{ name: string; conditions?: Condition[] }>;
  };
  const anyUsable = listeners.some((l) => l.supported && l.conflict === null);
  const conditions = withTimes(
    [
      anyUsable
        ? cond('Accepted', true, 'Accepted', 'accepted')
        : cond('Accepted', false, 'ListenersNotValid', 'no listener is served'),
      anyUsable && live
        ? cond('Programmed', true, 'Programmed', `served through the tunnel at ${tunnelHostname}`)
        : cond(
            'Programmed',
            false,
            anyUsable ? 'Pending' : 'Invalid',
            anyUsable ? 'the tunnel has no live connection yet' : 'no listener is served',
          ),
    ],
    current.conditions,
    generation,
    now,
  );
  const key = `${gw.metadata?.namespace ?? ''}/${gw.metadata?.name ?? ''}`;
  const ls = listeners.map((l) => {
    const s = listenerStatus(l, counts.get(`${key}/${l.name}`) ?? 0, live);
    const prev = current.listeners?.find((p) => p.name === l.name)?.conditions;
    return {
      name: s.name,
      supportedKinds: s.supportedKinds,
      attachedRoutes: s.attachedRoutes,
      conditions: withTimes(s.wanted, prev, generation, now),
    };
  });
  return { addresses: [{ type: 'Hostname', value: tunnelHostname }], conditions, listeners: ls };
}

/** Whether a Gateway's status as computed equals what it has (times aside). */
export function sameGatewayStatus(current: unknown, next: ReturnType<typeof gatewayStatus>): boolean {
  const c = (current ?? {}) as {
    addresses?: Array<{ type?: string; value?: string }>;
    conditions?: Condition[];
    listeners?: Array<{
      name: string;
      attachedRoutes?: number;
      supportedKinds?: unknown;
      conditions?: Condition[];
    }>;
  };
  if (JSON.stringify(c.addresses ?? []) !== JSON.stringify(next.addresses)) return false;
  if (!sameConditions(c.conditions, next.conditions)) return false;
  if ((c.listeners ?? []).length !== next.listeners.length) return false;
  return next.listeners.every((l, i) => {
    const p = c.listeners?.[i];
    return (
      p !== undefined &&
      p.name === l.name &&
      p.attachedRoutes === l.attachedRoutes &&
      JSON.stringify(p.supportedKinds) === JSON.stringify(l.supportedKinds) &&
      sameConditions(p.conditions, l.conditions)
    );
  });
}

/** One entry of ours in a shared status list: whose it is about, and its two conditions. */
interface OurEntry {
  ref: ParentReference;
  accepted: { status: boolean; reason: string; message: string };
  resolvedRefs: { status: boolean; reason: string; message: string };
}

/**
 * A status list shared between controllers (a route's `parents`, a policy's `ancestors`) with our
 * entries recomputed: other controllers' entries stay as they are, ours are `wanted`, each keeping its
 * conditions' transition times. Null when nothing would change.
 */
function withOurEntries<T extends { controllerName: string; conditions: Condition[] }>(
  current: readonly T[],
  refOf: (t: T) => ParentReference,
  wanted: readonly OurEntry[],
  make: (ref: ParentReference, conditions: Condition[]) => T,
  controllerName: string,
  generation: number | undefined,
  now: string,
): T[] | null {
  const others = current.filter((p) => p.controllerName !== controllerName);
  const mine = current.filter((p) => p.controllerName === controllerName);
  const next = wanted.map((w) => {
    const prev = mine.find((m) => sameRef(refOf(m), w.ref));
    return make(
      w.ref,
      withTimes(
        [
          cond('Accepted', w.accepted.status, w.accepted.reason, w.accepted.message),
          cond('ResolvedRefs', w.resolvedRefs.status, w.resolvedRefs.reason, w.resolvedRefs.message),
        ],
        prev?.conditions,
        generation,
        now,
      ),
    );
  });
  const unchanged =
    mine.length === next.length &&
    next.every((n) => {
      const m = mine.find((x) => sameRef(refOf(x), refOf(n)));
      return m !== undefined && sameConditions(m.conditions, n.conditions);
    });
  return unchanged ? null : [...others, ...next];
}

/**
 * A route's `status.parents` with ours recomputed: one per parentRef of one of our Gateways. Null
 * when nothing would change.
 */
export function routeParents(
  route: HTTPRoute | GRPCRoute,
  outcome: RouteOutcome | undefined,
  controllerName: string,
  now: string,
): RouteParentStatus[] | null {
  return withOurEntries(
    route.status?.parents ?? [],
    (p) => p.parentRef,
    outcome?.parents ?? [],
    (parentRef, conditions) => ({ parentRef, controllerName, conditions }),
    controllerName,
    route.metadata?.generation,
    now,
  );
}

/**
 * A BackendTLSPolicy's `status.ancestors` with ours recomputed: one entry per Gateway of ours whose
 * accepted routes send to a Service port the policy covers. Null when nothing would change.
 */
export function policyAncestors(
  policy: BackendTLSPolicy,
  outcome: PolicyOutcome | undefined,
  controllerName: string,
  now: string,
): PolicyAncestorStatus[] | null {
  const wanted: OurEntry[] =
    outcome === undefined
      ? []
      : [...outcome.ancestors].sort().map((gw) => {
          const slash = gw.indexOf('/');
          return {
            ref: {
              group: GATEWAY_GROUP,
              kind: 'Gateway',
              namespace: gw.slice(0, slash),
              name: gw.slice(slash + 1),
            },
            accepted: outcome.accepted,
            resolvedRefs: outcome.resolvedRefs,
          };
        });
  return withOurEntries(
    policy.status?.ancestors ?? [],
    (p) => p.ancestorRef,
    wanted,
    (ancestorRef, conditions) => ({ ancestorRef, controllerName, conditions }),
    controllerName,
    policy.metadata?.generation,
    now,
  );
}

function sameRef(a: RouteParentStatus['parentRef'], b: RouteParentStatus['parentRef']): boolean {
  return (
    (a.group ?? GATEWAY_GROUP) === (b.group ?? GATEWAY_GROUP) &&
    (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway') &&
    (a.namespace ?? '') === (b.namespace ?? '') &&
    a.name === b.name &&
    (a.sectionName ?? '') === (b.sectionName ?? '') &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}
