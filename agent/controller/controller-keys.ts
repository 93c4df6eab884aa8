import type { GatewayResource } from '../gateway/gateway-watches.js';

/**
 * What the Ingress controller's queue holds: which thing to recompute from the cache, never an event.
 * - `routes`: the whole route table (any Ingress, IngressClass, Service or referenced Secret changed);
 * - `endpoints`: one Service's upstreams (its EndpointSlices changed);
 * - `status`: one Ingress's status (leader only: it changed, the table changed, the tunnel came or went);
 * - `gateway-status`: one GatewayClass's, Gateway's, HTTPRoute's or GRPCRoute's status (leader only, as `status`).
 */
export type ControllerKey =
  | { kind: 'routes' }
  | { kind: 'endpoints'; namespace: string; service: string }
  | { kind: 'status'; namespace: string; name: string }
  | { kind: 'gateway-status'; resource: GatewayResource; namespace: string; name: string };

export type KeyKind = ControllerKey['kind'];

export const ROUTES: ControllerKey = { kind: 'routes' };

export function endpointsKey(namespace: string, service: string): ControllerKey {
  return { kind: 'endpoints', namespace, service };
}

export function gatewayStatusKey(resource: GatewayResource, namespace: string, name: string): ControllerKey {
  return { kind: 'gateway-status', resource, namespace, name };
}

export function statusKey(namespace: string, name: string): ControllerKey {
  return { kind: 'status', namespace, name };
}

/** The queue's identity for a key (one entry per thing to recompute). */
export function keyId(k: ControllerKey): string {
  switch (k.kind) {
    case 'routes':
      return 'routes';
    case 'endpoints':
      return `endpoints/${k.namespace}/${k.service}`;
    case 'status':
      return `status/${k.namespace}/${k.name}`;
    case 'gateway-status':
      return `${k.resource}-status/${k.namespace}/${k.name}`;
  }
}
