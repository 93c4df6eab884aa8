import { H2C, PLAIN, type OriginOptions } from '../routing/origin-options.js';
import type { RouteTableBuilder } from '../routing/route-table-builder.js';
import { prefixKey } from '../routing/route-table-builder.js';
import type { Backend } from '../routing/route-table.js';
import type { HeaderEdits, RouteEdits, RuleAction, WeightedBackend } from '../routing/rule-action.js';
import type { BackendProblem, ServiceBackends } from '../routing/service-backends.js';
import { keyOf, timeOf } from '../routing/types.js';
import {
  GATEWAY_GROUP,
  type Gateway,
  type HTTPBackendRef,
  type HTTPRoute,
  type ParentReference,
  type ReferenceGrant,
} from './gateway-types.js';
import {
  compileFilters,
  compileMatch,
  RuleProblem,
  type CompiledFilters,
  type CompiledMatch,
} from './httproute-rules.js';
import { attach, parentGateway, type ListenerView } from './listener-attachment.js';

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
}

export interface RouteOutcome {
  kind: 'HTTPRoute';
  /** NS/NAME */
  key: string;
  generation: number | undefined;
  parents: ParentOutcome[];
}

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

function joinEdits(host: string | null, ...filters: CompiledFilters[]): RouteEdits | null {
  const request = filters.map((f) => f.requestHeaders).filter((e): e is HeaderEdits => e !== null);
  const response = filters.map((f) => f.responseHeaders).filter((e): e is HeaderEdits => e !== null);
  if (host === null && request.length === 0 && response.length === 0) return null;
  return { request, response, host };
}

interface CompiledRule {
  where: string;
  description: string;
  matches: CompiledMatch[];
  filters: CompiledFilters;
  backends: Array<{ backend: Backend; weight: number; filters: CompiledFilters }>;
}

/**
 * HTTPRoutes attached to our Gateways, filed into the shared route table builder under the hostnames
 * they serve on each listener, with what each parentRef's Accepted and ResolvedRefs conditions are to
 * say. A route the agent cannot serve as written (an unsupported value) is filed nowhere; a backend
 * that cannot be used (missing, another kind, another namespace without a ReferenceGrant) answers 500
 * for its share of the rule's traffic, as the API requires.
 */
export function addHttpRoutes(
  input: GatewayRoutesInput,
  builder: RouteTableBuilder,
  backends: ServiceBackends,
): { outcomes: RouteOutcome[]; sources: string[] } {
  const outcomes: RouteOutcome[] = [];
  const sources: string[] = [];
  for (const route of input.httpRoutes) {
    const ns = route.metadata?.namespace ?? 'default';
    const key = keyOf(route.metadata);
    const source = `httproute/${key}`;
    const ours = (route.spec?.parentRefs ?? []).filter((ref) => {
      const gw = parentGateway(ref, ns);
      return gw !== null && input.gateways.has(gw);
    });
    if (ours.length === 0) continue;

    let problem: RuleProblem | null = null;
    let refProblem: { reason: string; message: string } | null = null;
    const rules: CompiledRule[] = [];
    try {
      (route.spec?.rules ?? [{}]).forEach((rule, i) => {
        const where = `spec.rules[${i}]`;
        const matches = (rule.matches === undefined || rule.matches.length === 0 ? [{}] : rule.matches).map(
          (m, j) => compileMatch(m, `${where}.matches[${j}]`),
        );
        const filters = compileFilters(rule.filters, `${where}.filters`);
        const prefixOnly = [filters.redirect?.path, filters.rewrite?.path].some(
          (p) => p?.type === 'ReplacePrefixMatch',
        );
        if (prefixOnly && matches.some((m) => m.path.type !== 'PathPrefix'))
          throw new RuleProblem(
            'UnsupportedValue',
            `${where}: ReplacePrefixMatch needs every match of the rule to be a PathPrefix`,
          );
        const refs = (rule.backendRefs ?? []).map((ref, j) => {
          const at = `${where}.backendRefs[${j}]`;
          const own = compileFilters(ref.filters, `${at}.filters`);
          if (own.redirect !== null || own.rewrite !== null)
            throw new RuleProblem(
              'UnsupportedValue',
              `${at}.filters: only header modifiers are supported on a backendRef`,
            );
          const r = resolveRef(ref, ns, at, source, input, backends);
          if (r.problem !== undefined) refProblem ??= r.problem;
          return { backend: r.backend, weight: ref.weight ?? 1, filters: own };
        });
        rules.push({
          where,
          description: `${source} ${rule.name === undefined ? `rule ${i}` : `rule "${rule.name}"`}`,
          matches,
          filters,
          backends: refs,
        });
      });
    } catch (err) {
      if (!(err instanceof RuleProblem)) throw err;
      problem = err;
    }

    const parents: ParentOutcome[] = [];
    const hostnames = new Set<string>();
    const routeHosts = (route.spec?.hostnames ?? []).map((h) => h.toLowerCase());
    for (const ref of ours) {
      const gw = input.gateways.get(parentGateway(ref, ns) as string) as OurGateway;
      const att = attach(ref, gw.listeners, gw.namespace, {
        kind: 'HTTPRoute',
        namespace: ns,
        hostnames: routeHosts,
        namespaceLabels: input.namespaceLabels,
      });
      const resolvedRefs: ConditionOutcome =
        refProblem === null
          ? { status: true, reason: 'ResolvedRefs', message: 'every backendRef resolved' }
          : { status: false, ...(refProblem as BackendProblem) };
      if ('reason' in att) {
        parents.push({
          ref,
          gateway: gw.key,
          accepted: { status: false, ...att },
          resolvedRefs,
          listeners: [],
        });
        continue;
      }
      if (problem !== null) {
        parents.push({
          ref,
          gateway: gw.key,
          accepted: { status: false, reason: problem.reason, message: problem.message },
          resolvedRefs,
          listeners: [],
        });
        continue;
      }
      for (const h of att.hostnames) hostnames.add(h);
      parents.push({
        ref,
        gateway: gw.key,
        accepted: { status: true, reason: 'Accepted', message: 'attached' },
        resolvedRefs,
        listeners: att.listeners,
      });
    }
    outcomes.push({ kind: 'HTTPRoute', key, generation: route.metadata?.generation, parents });
    if (hostnames.size === 0) continue;
    sources.push(source);
    const created = timeOf(route.metadata?.creationTimestamp);
    for (const host of hostnames) fileRules(builder, rules, host, source, key, created);
  }
  return { outcomes, sources };
}

function fileRules(
  builder: RouteTableBuilder,
  rules: readonly CompiledRule[],
  host: string,
  source: string,
  owner: string,
  created: number,
): void {
  const label = host === '' ? '*' : host;
  rules.forEach((rule, i) => {
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
      backends: weighted,
      totalWeight: weighted.reduce((n, b) => n + Math.max(0, b.weight), 0),
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
          created,
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

/** A backendRef's Service port as a backend, or an unavailable one and the ResolvedRefs reason why. */
function resolveRef(
  ref: HTTPBackendRef,
  ns: string,
  where: string,
  source: string,
  input: GatewayRoutesInput,
  backends: ServiceBackends,
): { backend: Backend; problem?: BackendProblem } {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  const name = ref.name ?? '';
  const bns = ref.namespace ?? ns;
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
  if (bns !== ns && !granted(input.grants, 'HTTPRoute', ns, bns, '', 'Service', name))
    return unavailable(
      'RefNotPermitted',
      `no ReferenceGrant in namespace ${bns} lets HTTPRoutes of ${ns} refer to Service ${name}`,
    );
  if (ref.port === undefined)
    return unavailable('BackendNotFound', `the reference to Service ${bns}/${name} names no port`);
  const port = backends.servicePort(bns, name, { number: ref.port });
  let origin: OriginOptions = PLAIN;
  const app = port?.appProtocol;
  if (app === 'kubernetes.io/h2c') origin = H2C;
  else if (app !== undefined && app !== '' && app !== 'http' && app !== 'kubernetes.io/ws')
    return unavailable(
      'UnsupportedProtocol',
      `Service ${bns}/${name} port ${ref.port} has appProtocol "${app}", which the agent does not speak`,
    );
  const problems: BackendProblem[] = [];
  const backend = backends.resolve(
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
