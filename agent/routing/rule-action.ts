import type { CorsPolicy } from './cors.js';
import type { Backend } from './route-table.js';

/**
 * Header changes from a RequestHeaderModifier or ResponseHeaderModifier filter, in the order the
 * Gateway API applies them: set (replace), add (append to what is there), remove. Names lower case.
 */
export interface HeaderEdits {
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly add: ReadonlyArray<readonly [string, string]>;
  readonly remove: readonly string[];
}

/** A path change of a RequestRedirect or URLRewrite filter. */
export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly value: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly value: string };

/** RequestRedirect: what the Location keeps from the request (null) and what it changes. */
export interface RedirectSpec {
  readonly scheme: string | null;
  readonly hostname: string | null;
  readonly port: number | null;
  readonly path: PathModifier | null;
  readonly statusCode: number;
}

/** URLRewrite: the Host and path the origin gets instead of the visitor's. */
export interface RewriteSpec {
  readonly hostname: string | null;
  readonly path: PathModifier | null;
}

/**
 * The header changes a request and its response get on the way through one backend: the rule's
 * filters then the backendRef's own, joined at compile time; `host` is URLRewrite's hostname.
 */
export interface RouteEdits {
  readonly request: readonly HeaderEdits[];
  readonly response: readonly HeaderEdits[];
  readonly host: string | null;
}

/** One backendRef of a rule: its Service port (or why it has none: that share answers 500), weight and edits. */
export interface WeightedBackend {
  readonly backend: Backend;
  readonly weight: number;
  readonly edits: RouteEdits | null;
}

/**
 * A RequestMirror of a rule: a copy of `fraction` (0 to 1) of its requests goes to one endpoint of
 * `backend`, with the rule's request edits; the copy's answer is thrown away.
 */
export interface Mirror {
  readonly backend: Extract<Backend, { kind: 'service' }>;
  readonly fraction: number;
  readonly edits: RouteEdits | null;
}

/**
 * What a Gateway API route rule does with a request it matched, compiled once: a redirect, or one
 * backend picked by weight with the rule's filters and then the backend's own (in its `edits`). `host` is the route
 * hostname the rule was filed under, the bounded metric label; `source` the route (`httproute/NS/NAME`, `grpcroute/NS/NAME`).
 */
export interface RuleAction {
  readonly kind: 'rule';
  readonly source: string;
  readonly host: string;
  /** `httproute/NS/NAME rule N`, for logs and /debug/routes */
  readonly description: string;
  readonly redirect: RedirectSpec | null;
  readonly rewrite: RewriteSpec | null;
  /** a CORS filter: preflights answered by the agent, CORS headers on allowed cross-origin responses */
  readonly cors: CorsPolicy | null;
  readonly backends: readonly WeightedBackend[];
  /** the rule's RequestMirror filters; null when it has none */
  readonly mirrors: readonly Mirror[] | null;
  /** the sum of the weights; 0 when the rule has no backend to send to (every request answers unavailableStatus) */
  readonly totalWeight: number;
  /**
   * The rule's `timeouts` as one deadline from the request's arrival: the smaller of request and
   * backendRequest (the agent sends to the origin at once, and retries share it); 0 for none.
   */
  readonly timeoutMs: number;
  /** the answer for the share of an unusable backend: 500 (HTTPRoute), 503, gRPC's UNAVAILABLE (GRPCRoute) */
  readonly unavailableStatus: number;
}

/** A backend by weight: null when the weights add up to nothing. */
export function pickWeighted(a: RuleAction, random: number = Math.random()): WeightedBackend | null {
  if (a.totalWeight <= 0) return null;
  let r = random * a.totalWeight;
  for (const b of a.backends) {
    if (r < b.weight) return b;
    r -= b.weight;
  }
  // Floating point can leave r a hair above the last weight.
  for (let i = a.backends.length - 1; i >= 0; i--) {
    const b = a.backends[i] as WeightedBackend;
    if (b.weight > 0) return b;
  }
  return null;
}
