import { durationMs } from '../../common/duration.js';
import { CorsPolicy, parseOriginPattern } from '../routing/cors.js';
import type { PathTest } from '../routing/route-table-builder.js';
import type { Backend } from '../routing/route-table.js';
import type { BackendProblem } from '../routing/service-backends.js';
import {
  RequestConditions,
  compileRegex,
  type HeaderCondition,
  type QueryCondition,
  type ValueTest,
} from '../routing/request-match.js';
import type { HeaderEdits, PathModifier, RedirectSpec, RewriteSpec } from '../routing/rule-action.js';
import { resolveRef, type RefContext } from './backend-refs.js';
import type {
  BackendObjectReference,
  HTTPBackendRef,
  HTTPRoute,
  HTTPRouteFilter,
  HTTPRouteRule,
  HTTPRouteMatch,
  HeaderFilter,
  PathModifierSpec,
  RouteKind,
} from './gateway-types.js';

/** A value the agent cannot serve as written: the route's Accepted condition is False with this reason. */
export class RuleProblem extends Error {
  constructor(
    readonly reason: 'UnsupportedValue' | 'IncompatibleFilters',
    message: string,
  ) {
    super(message);
  }
}

/** One HTTPRouteMatch, ready to file: how its path is tested and what else it needs. */
export interface CompiledMatch {
  path: PathTest;
  conditions: RequestConditions | null;
  hasMethod: boolean;
  headers: number;
  query: number;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export function valueTest(type: string | undefined, value: string, where: string): ValueTest {
  if (type === undefined || type === 'Exact') return { exact: value };
  if (type === 'RegularExpression') {
    const r = compileRegex(value);
    if ('problem' in r)
      throw new RuleProblem(
        'UnsupportedValue',
        `${where}: "${value}" is not an RE2 regular expression (${r.problem})`,
      );
    return r;
  }
  throw new RuleProblem('UnsupportedValue', `${where}: match type "${type}" is not supported`);
}

/** Header matches: of two entries for one name the first counts (the API's rule); names compare without case. */
export function headerConditions(list: HTTPRouteMatch['headers'], where: string): HeaderCondition[] {
  const headers: HeaderCondition[] = [];
  const seen = new Set<string>();
  (list ?? []).forEach((h, i) => {
    const name = (h.name ?? '').toLowerCase();
    if (seen.has(name)) return;
    seen.add(name);
    headers.push({ name, test: valueTest(h.type, h.value ?? '', `${where}.headers[${i}]`) });
  });
  return headers;
}

export function compileMatch(m: HTTPRouteMatch, where: string): CompiledMatch {
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  let path: PathTest;
  if (type === 'Exact' || type === 'PathPrefix') {
    if (!value.startsWith('/') || value.includes('//'))
      throw new RuleProblem('UnsupportedValue', `${where}.path: "${value}" is not an absolute path`);
    path = { type, value };
  } else if (type === 'RegularExpression') {
    const r = compileRegex(value);
    if ('problem' in r)
      throw new RuleProblem(
        'UnsupportedValue',
        `${where}.path: "${value}" is not an RE2 regular expression (${r.problem})`,
      );
    path = { type, value, regex: r.regex };
  } else throw new RuleProblem('UnsupportedValue', `${where}.path: type "${type}" is not supported`);

  const headers = headerConditions(m.headers, where);
  const query: QueryCondition[] = [];
  const seenQuery = new Set<string>();
  (m.queryParams ?? []).forEach((q, i) => {
    const name = q.name ?? '';
    if (seenQuery.has(name)) return;
    seenQuery.add(name);
    query.push({ name, test: valueTest(q.type, q.value ?? '', `${where}.queryParams[${i}]`) });
  });
  const method = m.method ?? null;
  if (method !== null && !METHODS.has(method))
    throw new RuleProblem('UnsupportedValue', `${where}.method: "${method}" is not supported`);
  const none = method === null && headers.length === 0 && query.length === 0;
  return {
    path,
    conditions: none ? null : new RequestConditions(method, headers, query),
    hasMethod: method !== null,
    headers: headers.length,
    query: query.length,
  };
}

/**
 * Headers a filter may not set, add or remove: those that frame the request or belong to one hop
 * (a route must not be able to smuggle a second request to its origin), and Host (URLRewrite's job).
 */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function headerName(name: string | undefined, where: string): string {
  const n = (name ?? '').toLowerCase();
  if (!HEADER_NAME.test(n))
    throw new RuleProblem('UnsupportedValue', `${where}: "${name ?? ''}" is not a header name`);
  if (FORBIDDEN_HEADERS.has(n))
    throw new RuleProblem('UnsupportedValue', `${where}: a filter may not change ${n}`);
  return n;
}

function headerEdits(f: HeaderFilter | undefined, where: string): HeaderEdits {
  const pairs = (list: HeaderFilter['set'], field: string) =>
    (list ?? []).map((h, i): [string, string] => {
      const name = headerName(h.name, `${where}.${field}[${i}].name`);
      const value = h.value ?? '';
      if (!HEADER_VALUE.test(value))
        throw new RuleProblem('UnsupportedValue', `${where}.${field}[${i}].value holds a control character`);
      return [name, value];
    });
  return {
    set: pairs(f?.set, 'set'),
    add: pairs(f?.add, 'add'),
    remove: (f?.remove ?? []).map((n, i) => headerName(n, `${where}.remove[${i}]`)),
  };
}

function pathModifier(p: PathModifierSpec | undefined, where: string): PathModifier | null {
  if (p === undefined) return null;
  if (p.type === 'ReplaceFullPath' && p.replaceFullPath !== undefined)
    return { type: 'ReplaceFullPath', value: p.replaceFullPath };
  if (p.type === 'ReplacePrefixMatch' && p.replacePrefixMatch !== undefined)
    return { type: 'ReplacePrefixMatch', value: p.replacePrefixMatch };
  throw new RuleProblem('UnsupportedValue', `${where}.path: type "${p.type ?? ''}" is not supported`);
}

function corsList(
  list: readonly string[] | undefined,
  where: string,
  check: (v: string) => boolean,
): '*' | string[] {
  const values = list ?? [];
  if (values.includes('*')) {
    if (values.length > 1) throw new RuleProblem('UnsupportedValue', `${where}: "*" must stand alone`);
    return '*';
  }
  for (const v of values)
    if (!check(v)) throw new RuleProblem('UnsupportedValue', `${where}: "${v}" is not supported`);
  return [...values];
}

function corsPolicy(c: NonNullable<HTTPRouteFilter['cors']>, where: string): CorsPolicy {
  const maxAge = c.maxAge ?? 5;
  if (!Number.isInteger(maxAge) || maxAge < 1)
    throw new RuleProblem('UnsupportedValue', `${where}.maxAge: ${maxAge} is not a number of seconds`);
  const name = (v: string) => HEADER_NAME.test(v);
  return new CorsPolicy({
    origins: corsList(c.allowOrigins, `${where}.allowOrigins`, (v) => parseOriginPattern(v) !== null),
    credentials: c.allowCredentials === true,
    methods: corsList(c.allowMethods, `${where}.allowMethods`, (v) => METHODS.has(v)),
    headers: corsList(c.allowHeaders, `${where}.allowHeaders`, name),
    expose: corsList(c.exposeHeaders, `${where}.exposeHeaders`, name),
    maxAgeSeconds: maxAge,
  });
}

/** A rule's (or a backendRef's) filters, each type at most once, checked and compiled. */
export interface CompiledFilters {
  requestHeaders: HeaderEdits | null;
  responseHeaders: HeaderEdits | null;
  redirect: RedirectSpec | null;
  rewrite: RewriteSpec | null;
  cors: CorsPolicy | null;
  /** RequestMirror filters, their backendRefs not resolved yet */
  mirrors: Array<{ ref: BackendObjectReference; fraction: number; where: string }>;
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

/**
 * The filter types the agent serves on a GRPCRoute. Its CRD also allows RequestMirror, which is
 * refused here (UnsupportedValue): mirrors go over HTTP/1.1, and gRPC has no HTTP/1.1 form.
 */
const GRPC_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier']);

/** No filters: shared, since most rules and nearly every backendRef have none. */
const NO_FILTERS: CompiledFilters = Object.freeze({
  requestHeaders: null,
  responseHeaders: null,
  redirect: null,
  rewrite: null,
  cors: null,
  mirrors: Object.freeze([]) as never,
});

export function compileFilters(
  filters: readonly HTTPRouteFilter[] | undefined,
  where: string,
  kind: RouteKind = 'HTTPRoute',
): CompiledFilters {
  if (filters === undefined || filters.length === 0) return NO_FILTERS;
  const out: CompiledFilters = {
    requestHeaders: null,
    responseHeaders: null,
    redirect: null,
    rewrite: null,
    cors: null,
    mirrors: [],
  };
  (filters ?? []).forEach((f, i) => {
    const at = `${where}[${i}]`;
    if (kind === 'GRPCRoute' && !GRPC_FILTERS.has(f.type ?? ''))
      throw new RuleProblem(
        'UnsupportedValue',
        `${at}: filter type "${f.type ?? ''}" is not supported on a GRPCRoute`,
      );
    switch (f.type) {
      case 'RequestHeaderModifier':
        out.requestHeaders = headerEdits(f.requestHeaderModifier, `${at}.requestHeaderModifier`);
        break;
      case 'ResponseHeaderModifier':
        out.responseHeaders = headerEdits(f.responseHeaderModifier, `${at}.responseHeaderModifier`);
        break;
      case 'RequestRedirect': {
        const r = f.requestRedirect ?? {};
        const statusCode = r.statusCode ?? 302;
        if (!REDIRECT_CODES.has(statusCode))
          throw new RuleProblem(
            'UnsupportedValue',
            `${at}.requestRedirect.statusCode: ${statusCode} is not supported`,
          );
        if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https')
          throw new RuleProblem(
            'UnsupportedValue',
            `${at}.requestRedirect.scheme: "${r.scheme}" is not supported`,
          );
        out.redirect = {
          scheme: r.scheme ?? null,
          hostname: r.hostname?.toLowerCase() ?? null,
          port: r.port ?? null,
          path: pathModifier(r.path, `${at}.requestRedirect`),
          statusCode,
        };
        break;
      }
      case 'CORS':
        out.cors = corsPolicy(f.cors ?? {}, `${at}.cors`);
        break;
      case 'RequestMirror': {
        const m = f.requestMirror ?? {};
        const fr = m.fraction;
        const fraction =
          m.percent !== undefined
            ? m.percent / 100
            : fr !== undefined
              ? (fr.numerator ?? 0) / (fr.denominator ?? 100)
              : 1;
        if (!(fraction >= 0 && fraction <= 1))
          throw new RuleProblem(
            'UnsupportedValue',
            `${at}.requestMirror: the share mirrored is not between 0 and 100 %`,
          );
        out.mirrors.push({ ref: m.backendRef ?? {}, fraction, where: `${at}.requestMirror.backendRef` });
        break;
      }
      case 'URLRewrite':
        out.rewrite = {
          hostname: f.urlRewrite?.hostname?.toLowerCase() ?? null,
          path: pathModifier(f.urlRewrite?.path, `${at}.urlRewrite`),
        };
        break;
      default:
        throw new RuleProblem('UnsupportedValue', `${at}: filter type "${f.type ?? ''}" is not supported`);
    }
  });
  if (out.redirect !== null && out.rewrite !== null)
    throw new RuleProblem(
      'IncompatibleFilters',
      `${where}: RequestRedirect and URLRewrite cannot be used together`,
    );
  return out;
}

/** One rule of a route, compiled: its matches, its filters, and its backends with their own filters. */
export interface CompiledRule {
  /** `httproute/NS/NAME rule N` (or the rule's name), for logs and /debug/routes */
  description: string;
  matches: CompiledMatch[];
  filters: CompiledFilters;
  backends: Array<{ backend: Backend; weight: number; filters: CompiledFilters }>;
  /** the RequestMirror backends that resolved (those that did not are dropped, and ResolvedRefs says why) */
  mirrors: Array<{ backend: Extract<Backend, { kind: 'service' }>; fraction: number }>;
  /** the rule's timeouts as one deadline (RuleAction.timeoutMs); 0 for none */
  timeoutMs: number;
}

/** The Gateway API's Duration: up to four number-unit pairs (GEP-2257). */
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
/** setTimeout's limit (about 24.8 days): a longer timeout would fire at once. */
const LONGEST_MS = 2 ** 31 - 1;

function duration(value: string | undefined, where: string): number {
  if (value === undefined) return 0;
  const ms = DURATION.test(value) ? durationMs(value) : null;
  if (ms === null) throw new RuleProblem('UnsupportedValue', `${where}: "${value}" is not a duration`);
  return Math.min(ms, LONGEST_MS);
}

/**
 * HTTPRouteRule.timeouts as one deadline from the request's arrival: the smaller of request and
 * backendRequest that is set; "0s" turns one off, as the API says.
 */
export function ruleTimeout(t: HTTPRouteRule['timeouts'], where: string): number {
  const request = duration(t?.request, `${where}.request`);
  const backend = duration(t?.backendRequest, `${where}.backendRequest`);
  if (request > 0 && backend > request)
    throw new RuleProblem('UnsupportedValue', `${where}: backendRequest is longer than request`);
  return request === 0 ? backend : backend === 0 ? request : Math.min(request, backend);
}

/** A route's rules, compiled, with the first backendRef problem (its ResolvedRefs reason), if any. */
export interface CompiledRules {
  rules: CompiledRule[];
  refProblem: BackendProblem | null;
}

export function ruleDescription(source: string, name: string | undefined, i: number): string {
  return `${source} ${name === undefined ? `rule ${i}` : `rule "${name}"`}`;
}

/** A rule's weighted backends; a backendRef may carry header modifiers only. */
export function compileBackendRefs(
  refs: readonly HTTPBackendRef[] | undefined,
  where: string,
  c: RefContext,
  out: CompiledRules,
): CompiledRule['backends'] {
  return (refs ?? []).map((ref, j) => {
    const at = `${where}.backendRefs[${j}]`;
    const own = compileFilters(ref.filters, `${at}.filters`, c.kind);
    if (own.redirect !== null || own.rewrite !== null || own.cors !== null || own.mirrors.length > 0)
      throw new RuleProblem(
        'UnsupportedValue',
        `${at}.filters: only header modifiers are supported on a backendRef`,
      );
    const r = resolveRef(ref, at, c);
    if (r.problem !== undefined) out.refProblem ??= r.problem;
    return { backend: r.backend, weight: ref.weight ?? 1, filters: own };
  });
}

const NO_MIRRORS: CompiledRule['mirrors'] = Object.freeze([]) as never;

/**
 * A rule's RequestMirror backends. A mirror goes over HTTP/1.1 (it is a copy, sent and forgotten),
 * so a Service port that asks for h2c cannot take one; like a backendRef that does not resolve, it
 * is left out and ResolvedRefs says why.
 */
export function compileMirrors(
  mirrors: CompiledFilters['mirrors'],
  c: RefContext,
  out: CompiledRules,
): CompiledRule['mirrors'] {
  if (mirrors.length === 0) return NO_MIRRORS;
  const kept: CompiledRule['mirrors'] = [];
  for (const m of mirrors) {
    const r = resolveRef(m.ref, m.where, c);
    if (r.problem !== undefined) out.refProblem ??= r.problem;
    else if (r.backend.kind === 'service' && r.backend.origin.h2)
      out.refProblem ??= {
        reason: 'UnsupportedProtocol',
        message: `${m.where}: a mirror is sent over HTTP/1.1, and this Service port asks for h2c`,
      };
    else if (r.backend.kind === 'service') kept.push({ backend: r.backend, fraction: m.fraction });
  }
  return kept;
}

/** An HTTPRoute's rules; throws RuleProblem for what the agent cannot serve as written. */
export function compileHttpRules(route: HTTPRoute, c: RefContext): CompiledRules {
  const out: CompiledRules = { rules: [], refProblem: null };
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
    out.rules.push({
      description: ruleDescription(c.source, rule.name, i),
      matches,
      filters,
      backends: compileBackendRefs(rule.backendRefs, where, c, out),
      mirrors: compileMirrors(filters.mirrors, c, out),
      timeoutMs: ruleTimeout(rule.timeouts, `${where}.timeouts`),
    });
  });
  return out;
}
