import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GATEWAY_GROUP } from './gateway-types.js';
import {
  attachedCounts,
  gatewayClassStatus,
  gatewayStatus,
  policyAncestors,
  routeParents,
  sameConditions,
  sameGatewayStatus,
  SUPPORTED_FEATURES,
} from './gateway-status.js';
import type { PolicyOutcome } from './backend-tls.js';
import type { RouteOutcome } from './gateway-routes.js';
import type { GatewayResource, GatewayWatches } from './gateway-watches.js';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** What the status of the Gateway API objects is computed from: the last compile and the tunnel. */
export interface GatewayStatusInput {
  /** by source (`httproute/NS/NAME`, `grpcroute/NS/NAME`) */
  outcomes: ReadonlyMap<string, RouteOutcome>;
  /** BackendTLSPolicies by NS/NAME */
  policies: ReadonlyMap<string, PolicyOutcome>;
  tunnelHostname: string;
  live: boolean;
}

/**
 * Writes the status of our GatewayClasses, Gateways, HTTPRoutes and GRPCRoutes (the leader alone calls it): a
 * merge patch of the status only, conditional on the resourceVersion it was computed from (a newer
 * object gets 409 and the key is computed again), and no write at all when nothing would change, so
 * that a status write, which comes back as a watch event, does not write again.
 */
export class GatewayStatusWriter {
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    private readonly watches: GatewayWatches,
    private readonly controllerName: string,
    private readonly log: Logger,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async write(
    resource: GatewayResource,
    namespace: string,
    name: string,
    input: GatewayStatusInput,
  ): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    switch (resource) {
      case 'gatewayclass': {
        const gc = this.watches.ourClasses().find((c) => c.metadata?.name === name);
        if (gc === undefined) return;
        const status = gatewayClassStatus(gc, now);
        const features = (gc.status?.supportedFeatures ?? []).map((f) => f.name);
        if (
          sameConditions(gc.status?.conditions, status.conditions) &&
          features.join() === SUPPORTED_FEATURES.join()
        )
          return;
        await this.api.patchClusterCustomObjectStatus(
          {
            group: GATEWAY_GROUP,
            version: 'v1',
            plural: 'gatewayclasses',
            name,
            body: { metadata: { resourceVersion: gc.metadata?.resourceVersion }, status },
          },
          MERGE_PATCH,
        );
        this.log.info({ gatewayClass: name }, 'GatewayClass status written');
        return;
      }
      case 'gateway': {
        const our = this.watches.gateway(namespace, name);
        if (our === undefined) return;
        const status = gatewayStatus(
          our.gateway,
          our.listeners,
          attachedCounts([...input.outcomes.values()]),
          input.tunnelHostname,
          input.live,
          now,
        );
        if (sameGatewayStatus(our.gateway.status, status)) return;
        await this.api.patchNamespacedCustomObjectStatus(
          {
            group: GATEWAY_GROUP,
            version: 'v1',
            namespace,
            plural: 'gateways',
            name,
            body: { metadata: { resourceVersion: our.gateway.metadata?.resourceVersion }, status },
          },
          MERGE_PATCH,
        );
        this.log.info({ gateway: `${namespace}/${name}` }, 'Gateway status written');
        return;
      }
      case 'backendtlspolicy': {
        const policy = this.watches.policyByKey.get(`${namespace}/${name}`);
        if (policy === undefined) return;
        const ancestors = policyAncestors(
          policy,
          input.policies.get(`${namespace}/${name}`),
          this.controllerName,
          now,
        );
        if (ancestors === null) return;
        await this.api.patchNamespacedCustomObjectStatus(
          {
            group: GATEWAY_GROUP,
            version: 'v1',
            namespace,
            plural: 'backendtlspolicies',
            name,
            body: { metadata: { resourceVersion: policy.metadata?.resourceVersion }, status: { ancestors } },
          },
          MERGE_PATCH,
        );
        this.log.info({ backendTLSPolicy: `${namespace}/${name}` }, 'BackendTLSPolicy status written');
        return;
      }
      case 'httproute':
      case 'grpcroute': {
        const source = `${resource}/${namespace}/${name}`;
        const route = this.watches.routeBySource.get(source);
        if (route === undefined) return;
        const parents = routeParents(route, input.outcomes.get(source), this.controllerName, now);
        if (parents === null) return;
        await this.api.patchNamespacedCustomObjectStatus(
          {
            group: GATEWAY_GROUP,
            version: 'v1',
            namespace,
            plural: `${resource}s`,
            name,
            body: { metadata: { resourceVersion: route.metadata?.resourceVersion }, status: { parents } },
          },
          MERGE_PATCH,
        );
        this.log.info({ route: source }, 'route status written');
      }
    }
  }
}
