import type { PathTest } from '../routing/route-table-builder.js';
import { RequestConditions, compileRegex } from '../routing/request-match.js';
import type { RefContext } from './backend-refs.js';
import type { GRPCRoute, GRPCRouteMatch } from './gateway-types.js';
import {
  RuleProblem,
  compileBackendRefs,
  compileFilters,
  headerConditions,
  ruleDescription,
  type CompiledMatch,
  type CompiledRules,
} from './httproute-rules.js';

/** The CRD's own patterns for exact names: a dotted service name and a method name. */
const SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

/**
 * A gRPC call is a POST to `/<service>/<method>`, so a GRPCRoute match files as a path: service and
 * method exactly as an Exact path, a service alone as the path prefix `/<service>` (segments compare
 * whole, so `/pkg.Echo` never takes `/pkg.EchoV2/...`), a method alone or regular expressions as a
 * regular expression over the whole path. The route table's precedence (exact, then the longest
 * prefix, then expressions, then the number of header matches) then gives GRPCRoute's: the most
 * characters of service, then of method, then the most header matches.
 */
export function compileGrpcMatch(m: GRPCRouteMatch, where: string): CompiledMatch {
  const type = m.method?.type ?? 'Exact';
  const service = m.method?.service;
  const method = m.method?.method;
  let path: PathTest;
  if (type === 'Exact') {
    if (service !== undefined && !SERVICE.test(service))
      throw new RuleProblem(
        'UnsupportedValue',
        `${where}.method.service: "${service}" is not a gRPC service name`,
      );
    if (method !== undefined && !METHOD.test(method))
      throw new RuleProblem(
        'UnsupportedValue',
        `${where}.method.method: "${method}" is not a gRPC method name`,
      );
    if (service !== undefined && method !== undefined)
      path = { type: 'Exact', value: `/${service}/${method}` };
    else if (service !== undefined) path = { type: 'PathPrefix', value: `/${service}` };
    else if (method !== undefined) path = pathRegex(`/[^/]+/${method}`, where);
    else path = { type: 'PathPrefix', value: '/' };
  } else if (type === 'RegularExpression') {
    for (const [field, value] of [
      ['service', service],
      ['method', method],
    ] as const)
      if (value !== undefined && 'problem' in compileRegex(value))
        throw new RuleProblem(
          'UnsupportedValue',
          `${where}.method.${field}: "${value}" is not an RE2 regular expression`,
        );
    path = pathRegex(`/(?:${service ?? '[^/]+'})/(?:${method ?? '[^/]+'})`, where);
  } else throw new RuleProblem('UnsupportedValue', `${where}.method: type "${type}" is not supported`);
  const headers = headerConditions(m.headers, where);
  return {
    path,
    conditions: headers.length === 0 ? null : new RequestConditions(null, headers, []),
    hasMethod: false,
    headers: headers.length,
    query: 0,
  };
}

function pathRegex(pattern: string, where: string): PathTest {
  const r = compileRegex(pattern);
  if ('problem' in r)
    throw new RuleProblem(
      'UnsupportedValue',
      `${where}.method: "${pattern}" is not an RE2 regular expression`,
    );
  return { type: 'RegularExpression', value: pattern, regex: r.regex };
}

/** A GRPCRoute's rules; throws RuleProblem for what the agent cannot serve as written. */
export function compileGrpcRules(route: GRPCRoute, c: RefContext): CompiledRules {
  const out: CompiledRules = { rules: [], refProblem: null };
  (route.spec?.rules ?? [{}]).forEach((rule, i) => {
    const where = `spec.rules[${i}]`;
    const matches = (rule.matches === undefined || rule.matches.length === 0 ? [{}] : rule.matches).map(
      (m, j) => compileGrpcMatch(m, `${where}.matches[${j}]`),
    );
    const filters = compileFilters(rule.filters, `${where}.filters`, 'GRPCRoute');
    out.rules.push({
      description: ruleDescription(c.source, rule.name, i),
      matches,
      filters,
      backends: compileBackendRefs(rule.backendRefs, where, c, out),
      mirrors: [],
      timeoutMs: 0,
    });
  });
  return out;
}
