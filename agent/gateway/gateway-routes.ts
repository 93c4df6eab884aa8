import type { RouteTableBuilder } from '../routing/route-table-builder.js';
import { prefixKey } from '../routing/route-table-builder.js';
import type { HeaderEdits, RouteEdits, RuleAction, WeightedBackend } from '../routing/rule-action.js';
import type { ServiceBackends } from '../routing/service-backends.js';
import { keyOf, timeOf } from '../routing/types.js';
import type { RefContext } from './backend-refs.js';
import { BackendTlsPolicies, type PolicyOutcome } from './backend-tls.js';
import type { SecretLookup } from '../routing/origin-options.js';
import type {
  BackendTLSPolicy,
  Gateway,
  GRPCRoute,
  HTTPRoute,
  ParentReference,
  ReferenceGrant,
  RouteKind,
} from './gateway-types.js';
import { compileGrpcRules } from './grpcroute-rules.js';
import {
  compileHttpRules,
  RuleProblem,
  type CompiledFilters,
  type CompiledRule,
  type CompiledRules,
} from './httproute-rules.js';
import { attach, intersectHostnames, parentGateway, type ListenerView } from './listener-attachment.js';

/** One of our Gateways (its class names our controller), with its listeners worked out. */
export interface OurGateway {
  key: string;
  namespace: string;
  gateway: Gateway;
  listeners: ListenerView[];
}

export interface GatewayRoutesInput {
  gateways: ReadonlyMap<string, OurGateway>;
  httpRoutes: readonly HTTPRoute[];
  grpcRoutes: readonly GRPCRoute[];
  tlsPolicies: readonly BackendTLSPolicy[];
  /** the ConfigMaps BackendTLSPolicies name */
  configMaps: SecretLookup;
  grants: readonly ReferenceGrant[];
  namespaceLabels(ns: string): Readonly<Record<string, string>> | undefined;
}

/** A condition as the route's status will carry it. */
export interface ConditionOutcome {
  status: boolean;
  reason: string;
  message: string;
}

/** What one parentRef of ours makes of a route: its two conditions and the listeners it attached to. */
export interface ParentOutcome {
  ref: ParentReference;
  /** NS/NAME of the Gateway */
  gateway: string;
  accepted: ConditionOutcome;
  resolvedRefs: ConditionOutcome;
  listeners: ListenerView[];
  /** the hostnames it serves through them ('' for any, `*.suffix` for wildcards) */
  hostnames: string[];
}

export interface RouteOutcome {
  kind: RouteKind;
  /** NS/NAME */
  key: string;
  /** `httproute/NS/NAME` or `grpcroute/NS/NAME`: the route table's source and the outcome's key */
  source: string;
  generation: number | undefined;
  parents: ParentOutcome[];
}

function joinEdits(host: string | null, ...filters: CompiledFilters[]): RouteEdits | null {
  if (host === null && filters.every((f) => f.requestHeaders === null && f.responseHeaders === null))
    return null;
  const request = filters.map((f) => f.requestHeaders).filter((e): e is HeaderEdits => e !== null);
  const response = filters.map((f) => f.responseHeaders).filter((e): e is HeaderEdits => e !== null);
  if (host === null && request.length === 0 && response.length === 0) return null;
  return { request, response, host };
}

/** A route of either kind, compiled and attached, before its rules are filed. */
interface Prepared {
  outcome: RouteOutcome;
  rules: CompiledRule[];
  created: number;
  /** the BackendTLSPolicies its backends use */
  policies: Set<PolicyOutcome>;
}

/**
 * HTTPRoutes and GRPCRoutes attached to our Gateways, filed into the shared route table builder under
 * the hostnames they serve on each listener, with what each parentRef's Accepted and ResolvedRefs
 * conditions are to say. A route the agent cannot serve as written (an unsupported value) is filed
 * nowhere; a backend that cannot be used (missing, another kind, another namespace without a
 * ReferenceGrant) answers for its share of the rule's traffic (500 for an HTTPRoute, 503, which gRPC
 * clients read as UNAVAILABLE, for a GRPCRoute), as the API requires.
 */
export function addGatewayRoutes(
  input: GatewayRoutesInput,
  builder: RouteTableBuilder,
  backends: ServiceBackends,
): { outcomes: RouteOutcome[]; sources: string[]; policies: PolicyOutcome[] } {
  const tls = new BackendTlsPolicies(input.tlsPolicies, input.configMaps);
  const prepared: Prepared[] = [];
  for (const route of input.httpRoutes) {
    const p = prepare('HTTPRoute', route, compileHttpRules, input, backends, tls);
    if (p !== null) prepared.push(p);
  }
  for (const route of input.grpcRoutes) {
    const p = prepare('GRPCRoute', route, compileGrpcRules, input, backends, tls);
    if (p !== null) prepared.push(p);
  }
  refuseKindConflicts(prepared);
  const sources: string[] = [];
  for (const p of prepared) {
    const hostnames = new Set<string>();
    for (const parent of p.outcome.parents)
      if (parent.accepted.status) {
        for (const h of parent.hostnames) hostnames.add(h);
        for (const policy of p.policies) policy.ancestors.add(parent.gateway);
      }
    if (hostnames.size === 0) continue;
    sources.push(p.outcome.source);
    for (const host of hostnames) fileRules(builder, p, host);
  }
  return { outcomes: prepared.map((p) => p.outcome), sources, policies: [...tls.outcomes.values()] };
}

function prepare<R extends HTTPRoute | GRPCRoute>(
  kind: RouteKind,
  route: R,
  compile: (route: R, c: RefContext) => CompiledRules,
  input: GatewayRoutesInput,
  backends: ServiceBackends,
  tls: BackendTlsPolicies,
): Prepared | null {
  const ns = route.metadata?.namespace ?? 'default';
  const key = keyOf(route.metadata);
  const source = `${kind.toLowerCase()}/${key}`;
  const ours = (route.spec?.parentRefs ?? []).filter((ref) => {
    const gw = parentGateway(ref, ns);
    return gw !== null && input.gateways.has(gw);
  });
  if (ours.length === 0) return null;

  let problem: RuleProblem | null = null;
  let compiled: CompiledRules = { rules: [], refProblem: null };
  const policies = new Set<PolicyOutcome>();
  try {
    compiled = compile(route, { kind, namespace: ns, source, grants: input.grants, backends, tls, policies });
  } catch (err) {
    if (!(err instanceof RuleProblem)) throw err;
    problem = err;
  }
  const resolvedRefs: ConditionOutcome =
    compiled.refProblem === null
      ? { status: true, reason: 'ResolvedRefs', message: 'every backendRef resolved' }
      : { status: false, ...compiled.refProblem };
  const parents: ParentOutcome[] = [];
  const routeHosts = (route.spec?.hostnames ?? []).map((h) => h.toLowerCase());
  for (const ref of ours) {
    const gw = input.gateways.get(parentGateway(ref, ns) as string) as OurGateway;
    const att = attach(ref, gw.listeners, gw.namespace, {
      kind,
      namespace: ns,
      hostnames: routeHosts,
      namespaceLabels: input.namespaceLabels,
    });
    if ('reason' in att || problem !== null) {
      const why = 'reason' in att ? att : (problem as RuleProblem);
      parents.push({
        ref,
        gateway: gw.key,
        accepted: { status: false, reason: why.reason, message: why.message },
        resolvedRefs,
        listeners: [],
        hostnames: [],
      });
      continue;
    }
    parents.push({
      ref,
      gateway: gw.key,
      accepted: { status: true, reason: 'Accepted', message: 'attached' },
      resolvedRefs,
      listeners: att.listeners,
      hostnames: att.hostnames,
    });
  }
  return {
    outcome: { kind, key, source, generation: route.metadata?.generation, parents },
    rules: compiled.rules,
    created: timeOf(route.metadata?.creationTimestamp),
    policies,
  };
}

function hostnamesMeet(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) => b.some((y) => x === '' || y === '' || intersectHostnames(x, y) !== null));
}

/**
 * An HTTPRoute and a GRPCRoute on one listener with hostnames in common: the API accepts exactly one
 * of the two, the older (then the first by namespace/name), and refuses the other on that parent.
 */
function refuseKindConflicts(prepared: Prepared[]): void {
  if (!prepared.some((p) => p.outcome.kind === 'GRPCRoute')) return;
  const order = [...prepared].sort(
    (a, b) =>
      a.created - b.created || (a.outcome.key < b.outcome.key ? -1 : a.outcome.key > b.outcome.key ? 1 : 0),
  );
  /** per listener (NS/GATEWAY/LISTENER), the routes accepted on it so far */
  const claims = new Map<string, Array<{ kind: RouteKind; key: string; hostnames: string[] }>>();
  for (const p of order)
    for (const parent of p.outcome.parents) {
      if (!parent.accepted.status) continue;
      let rival: { kind: RouteKind; key: string } | undefined;
      for (const l of parent.listeners) {
        rival = claims
          .get(`${l.gateway}/${l.name}`)
          ?.find((c) => c.kind !== p.outcome.kind && hostnamesMeet(c.hostnames, parent.hostnames));
        if (rival !== undefined) {
          parent.accepted = {
            status: false,
            reason: 'NotAllowedByListeners',
            message: `listener "${l.name}" already serves these hostnames for the older ${rival.kind} ${rival.key}`,
          };
          parent.listeners = [];
          parent.hostnames = [];
          break;
        }
      }
      for (const l of parent.listeners) {
        const k = `${l.gateway}/${l.name}`;
        const list = claims.get(k) ?? [];
        list.push({ kind: p.outcome.kind, key: p.outcome.key, hostnames: parent.hostnames });
        claims.set(k, list);
      }
    }
}

function fileRules(builder: RouteTableBuilder, p: Prepared, host: string): void {
  const { source, key: owner, kind } = p.outcome;
  const label = host === '' ? '*' : host;
  const unavailableStatus = kind === 'GRPCRoute' ? 503 : 500;
  p.rules.forEach((rule, i) => {
    const f = rule.filters;
    const weighted: WeightedBackend[] = rule.backends.map((b) => ({
      backend: b.backend,
      weight: b.weight,
      edits: joinEdits(f.rewrite?.hostname ?? null, f, b.filters),
    }));
    const action: RuleAction = {
      kind: 'rule',
      source,
      host: label,
      description: rule.description,
      redirect: f.redirect,
      rewrite: f.rewrite,
      cors: f.cors,
      backends: weighted,
      totalWeight: weighted.reduce((n, b) => n + Math.max(0, b.weight), 0),
      mirrors:
        rule.mirrors.length === 0
          ? null
          : rule.mirrors.map((m) => ({ ...m, edits: joinEdits(f.rewrite?.hostname ?? null, f) })),
      timeoutMs: rule.timeoutMs,
      unavailableStatus,
    };
    rule.matches.forEach((m, j) => {
      builder.add(
        host,
        m.path,
        {
          candidate: {
            conditions: m.conditions,
            action,
            prefix: m.path.type === 'PathPrefix' ? prefixKey(m.path.value) : '',
          },
          prefixChars: m.path.type === 'PathPrefix' ? m.path.value.length : 0,
          hasMethod: m.hasMethod,
          headers: m.headers,
          query: m.query,
          created: p.created,
          owner,
          index: i * 1000 + j,
        },
        false,
        m.path.type,
        source,
      );
    });
  });
}
