import type { ObjectMeta } from '../routing/types.js';

/**
 * The Gateway API objects (gateway.networking.k8s.io/v1, standard channel) reduced to the fields the
 * agent reads, as they come from the API server: every field may be missing, whatever the CRD's
 * defaults say, because an object may have been written before a default existed.
 */
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface GatewayClass {
  metadata?: ObjectMeta;
  spec?: { controllerName?: string };
  status?: { conditions?: Condition[]; supportedFeatures?: Array<{ name: string }> };
}

export interface RouteGroupKind {
  group?: string;
  kind?: string;
}

export interface Listener {
  name?: string;
  hostname?: string;
  port?: number;
  protocol?: string;
  tls?: {
    mode?: string;
    certificateRefs?: Array<{ group?: string; kind?: string; name?: string; namespace?: string }>;
  };
  allowedRoutes?: {
    namespaces?: {
      from?: string;
      selector?: {
        matchLabels?: Record<string, string>;
        matchExpressions?: Array<{ key?: string; operator?: string; values?: string[] }>;
      };
    };
    kinds?: RouteGroupKind[];
  };
}

export interface Gateway {
  metadata?: ObjectMeta;
  spec?: { gatewayClassName?: string; listeners?: Listener[] };
  status?: unknown;
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  sectionName?: string;
  port?: number;
}

export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  port?: number;
}

export interface HeaderFilter {
  set?: Array<{ name?: string; value?: string }>;
  add?: Array<{ name?: string; value?: string }>;
  remove?: string[];
}

export interface PathModifierSpec {
  type?: string;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRouteFilter {
  type?: string;
  requestHeaderModifier?: HeaderFilter;
  responseHeaderModifier?: HeaderFilter;
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    path?: PathModifierSpec;
    port?: number;
    statusCode?: number;
  };
  urlRewrite?: { hostname?: string; path?: PathModifierSpec };
  requestMirror?: {
    backendRef?: BackendObjectReference;
    percent?: number;
    fraction?: { numerator?: number; denominator?: number };
  };
  cors?: {
    allowOrigins?: string[];
    allowCredentials?: boolean;
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    maxAge?: number;
  };
  extensionRef?: { group?: string; kind?: string; name?: string };
}

export interface HTTPRouteMatch {
  path?: { type?: string; value?: string };
  headers?: Array<{ type?: string; name?: string; value?: string }>;
  queryParams?: Array<{ type?: string; name?: string; value?: string }>;
  method?: string;
}

export interface HTTPBackendRef extends BackendObjectReference {
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
}

export interface HTTPRoute {
  metadata?: ObjectMeta;
  spec?: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: HTTPRouteRule[] };
  status?: { parents?: RouteParentStatus[] };
}

/** GRPCRoute's method match: service and method, exact or RE2 regular expressions; either may be absent. */
export interface GRPCMethodMatch {
  type?: string;
  service?: string;
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: Array<{ type?: string; name?: string; value?: string }>;
}

/** GRPCRoute's filters are HTTPRoute's header modifiers, RequestMirror and ExtensionRef. */
export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
}

export interface GRPCRoute {
  metadata?: ObjectMeta;
  spec?: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: GRPCRouteRule[] };
  status?: { parents?: RouteParentStatus[] };
}

/** The route kinds the agent serves. */
export type RouteKind = 'HTTPRoute' | 'GRPCRoute';

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface ReferenceGrant {
  metadata?: ObjectMeta;
  spec?: {
    from?: Array<{ group?: string; kind?: string; namespace?: string }>;
    to?: Array<{ group?: string; kind?: string; name?: string }>;
  };
}

/** BackendTLSPolicy (v1): how the agent speaks TLS to a Service's endpoints. */
export interface BackendTLSPolicy {
  metadata?: ObjectMeta;
  spec?: {
    targetRefs?: Array<{ group?: string; kind?: string; name?: string; sectionName?: string }>;
    validation?: {
      caCertificateRefs?: Array<{ group?: string; kind?: string; name?: string }>;
      wellKnownCACertificates?: string;
      hostname?: string;
      subjectAltNames?: Array<{ type?: string; hostname?: string; uri?: string }>;
    };
    options?: Record<string, string>;
  };
  status?: { ancestors?: PolicyAncestorStatus[] };
}

export interface PolicyAncestorStatus {
  ancestorRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface Namespace {
  metadata?: ObjectMeta;
}
