import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, statusOf } from '../kube/errors.js';
import type { ChangeKind, WatchFactory, WatchedCache } from '../kube/resource-watch.js';
import type { SecretLookup } from '../routing/origin-options.js';
import { keyOf } from '../routing/types.js';
import {
  GATEWAY_GROUP,
  type Gateway,
  type BackendTLSPolicy,
  type GatewayClass,
  type GRPCRoute,
  type HTTPRoute,
  type Namespace,
  type ReferenceGrant,
} from './gateway-types.js';
import { granted } from './backend-refs.js';
import type { GatewayRoutesInput, OurGateway } from './gateway-routes.js';
import { listenersOf, type GrantCheck } from './listener-attachment.js';

const VERSION = 'v1';

/** The GatewayClass controllerName the agent answers to unless told otherwise. */
export const DEFAULT_GATEWAY_CONTROLLER = 'tunnel-ingress.dev/gateway-controller';

/** How often the agent looks again for the Gateway API's CRDs while they are not installed. */
const PROBE_EVERY_MS = 60_000;

export type GatewayObject = KubernetesObject &
  (GatewayClass | Gateway | HTTPRoute | GRPCRoute | ReferenceGrant);

/** What has a status the agent writes. */
export type GatewayResource = 'gatewayclass' | 'gateway' | 'httproute' | 'grpcroute' | 'backendtlspolicy';
type Route = (HTTPRoute | GRPCRoute) & KubernetesObject;

export interface GatewayWatchOptions {
  kc: KubeConfig;
  /** watch one namespace only (its Gateways, routes and grants; GatewayClasses are cluster-wide) */
  namespace?: string;
  watch: WatchFactory;
  log: Logger;
  controllerName: string;
  /** the Secrets HTTPS listeners name (their certificateRefs are checked, never used) */
  secrets: SecretLookup;
  /** the ConfigMaps BackendTLSPolicies name (their ca.crt) */
  configMaps: SecretLookup;
  /** something that routes depend on changed: compile again */
  onRoutesChange(): void;
  /** a GatewayClass, Gateway or route changed: its status may need writing */
  onObjectChange(kind: GatewayResource, namespace: string, name: string): void;
}

/**
 * The Gateway API's objects as the agent watches them, once the API server serves them: the agent
 * starts without the CRDs (most clusters have none) and looks for them again every minute, so
 * installing them later needs no restart. Until the first look has answered, `settled` is false and
 * the controller does not compile (a table without the Gateway routes would drop them for a moment).
 */
export class GatewayWatches {
  state: 'probing' | 'off' | 'on' = 'probing';
  classes: WatchedCache<GatewayClass & KubernetesObject> | null = null;
  gateways: WatchedCache<Gateway & KubernetesObject> | null = null;
  httpRoutes: WatchedCache<HTTPRoute & KubernetesObject> | null = null;
  /** null also where the cluster's Gateway API release has no GRPCRoute (before v1.1) */
  grpcRoutes: WatchedCache<GRPCRoute & KubernetesObject> | null = null;
  /** null where the release has no BackendTLSPolicy v1 (before v1.4) or the agent may not list it */
  tlsPolicies: WatchedCache<BackendTLSPolicy & KubernetesObject> | null = null;
  /** namespace labels by name (for allowedRoutes selectors), kept from watch events */
  private readonly namespaceLabels = new Map<string, Readonly<Record<string, string>>>();
  /** the BackendTLSPolicy cache by NS/NAME, for its status key */
  readonly policyByKey = new Map<string, BackendTLSPolicy & KubernetesObject>();
  grants: WatchedCache<ReferenceGrant & KubernetesObject> | null = null;
  namespaces: WatchedCache<Namespace & KubernetesObject> | null = null;
  /**
   * The routes by source (`httproute/NS/NAME`, `grpcroute/NS/NAME`), kept from watch events so that
   * a status key or a DNS Event needs no scan.
   */
  readonly routeBySource = new Map<string, Route>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly custom: CustomObjectsApi;

  constructor(private readonly opts: GatewayWatchOptions) {
    this.custom = opts.kc.makeApiClient(CustomObjectsApi);
  }

  /** Whether the route compile may go ahead: the CRDs are known absent, or every cache has listed. */
  get settled(): boolean {
    if (this.state === 'probing') return false;
    if (this.state === 'off') return true;
    return this.caches().every((c) => c === null || c.synced);
  }

  private caches() {
    return [
      this.classes,
      this.gateways,
      this.httpRoutes,
      this.grpcRoutes,
      this.tlsPolicies,
      this.grants,
      this.namespaces,
    ];
  }

  get restarts(): number {
    return this.caches().reduce((n, c) => n + (c?.restarts ?? 0), 0);
  }

  start(): void {
    void this.probe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await Promise.all(this.caches().map((c) => c?.stop()));
  }

  private async probe(): Promise<void> {
    let found: boolean;
    try {
      await this.custom.listClusterCustomObject({
        group: GATEWAY_GROUP,
        version: VERSION,
        plural: 'gatewayclasses',
        limit: 1,
      });
      found = true;
    } catch (err) {
      const status = statusOf(err);
      if (status !== 404) {
        // Not an answer about the CRDs (no permission, the API server away): ask again soon, and
        // compile Ingress routes meanwhile rather than wait.
        this.opts.log.warn(
          { err: describeApiError(err) },
          'could not tell whether the Gateway API is installed',
        );
      }
      found = false;
    }
    if (this.stopped) return;
    if (found) {
      const grpc = await this.served('grpcroutes');
      const tls = await this.served('backendtlspolicies');
      if (this.stopped) return;
      this.begin(grpc, tls);
      return;
    }
    if (this.state === 'probing') {
      this.state = 'off';
      this.opts.log.info(
        'the Gateway API is not installed (no gateway.networking.k8s.io/v1 GatewayClass); serving Ingress only, looking again every minute',
      );
      this.opts.onRoutesChange();
    }
    this.timer = setTimeout(() => void this.probe(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  /**
   * Whether the API server serves a kind the agent may list: GRPCRoute (standard channel since v1.1),
   * BackendTLSPolicy v1 (since v1.4).
   */
  private async served(plural: 'grpcroutes' | 'backendtlspolicies'): Promise<boolean> {
    const ns = this.opts.namespace;
    try {
      await (ns === undefined
        ? this.custom.listCustomObjectForAllNamespaces({
            group: GATEWAY_GROUP,
            version: VERSION,
            plural,
            limit: 1,
          })
        : this.custom.listNamespacedCustomObject({
            group: GATEWAY_GROUP,
            version: VERSION,
            namespace: ns,
            plural,
            limit: 1,
          }));
      return true;
    } catch (err) {
      const status = statusOf(err);
      // Forbidden: RBAC from before GRPCRoute support. Serving HTTPRoutes beats waiting on a watch
      // that can never list (the agent would never be ready).
      if (status === 403)
        this.opts.log.warn(
          { err: describeApiError(err) },
          `not allowed to list ${plural} (the RBAC predates them); going on without them until restarted with the chart's RBAC`,
        );
      // Anything else is not an answer: watch, and let the watch report trouble.
      return status !== 404 && status !== 403;
    }
  }

  private begin(grpc: boolean, tls: boolean): void {
    const { watch, namespace: ns, kc } = this.opts;
    const scoped = (plural: string) =>
      ns === undefined
        ? `/apis/${GATEWAY_GROUP}/${VERSION}/${plural}`
        : `/apis/${GATEWAY_GROUP}/${VERSION}/namespaces/${encodeURIComponent(ns)}/${plural}`;
    const list = (plural: string) => () =>
      (ns === undefined
        ? this.custom.listCustomObjectForAllNamespaces({ group: GATEWAY_GROUP, version: VERSION, plural })
        : this.custom.listNamespacedCustomObject({
            group: GATEWAY_GROUP,
            version: VERSION,
            namespace: ns,
            plural,
          })) as never;
    const routes = () => this.opts.onRoutesChange();
    const status = (kind: GatewayResource) => (_k: ChangeKind, o: KubernetesObject) => {
      routes();
      this.opts.onObjectChange(kind, o.metadata?.namespace ?? '', o.metadata?.name ?? '');
    };
    const routeChange = (kind: 'httproute' | 'grpcroute') => (change: ChangeKind, o: Route) => {
      const source = `${kind}/${keyOf(o.metadata)}`;
      if (change === 'delete') this.routeBySource.delete(source);
      else this.routeBySource.set(source, o);
      status(kind)(change, o);
    };
    this.classes = watch<GatewayClass & KubernetesObject>({
      name: 'gatewayclasses',
      path: `/apis/${GATEWAY_GROUP}/${VERSION}/gatewayclasses`,
      list: () =>
        this.custom.listClusterCustomObject({
          group: GATEWAY_GROUP,
          version: VERSION,
          plural: 'gatewayclasses',
        }) as never,
      onChange: status('gatewayclass'),
    });
    this.gateways = watch<Gateway & KubernetesObject>({
      name: 'gateways',
      path: scoped('gateways'),
      list: list('gateways'),
      onChange: status('gateway'),
    });
    this.httpRoutes = watch<HTTPRoute & KubernetesObject>({
      name: 'httproutes',
      path: scoped('httproutes'),
      list: list('httproutes'),
      onChange: routeChange('httproute'),
    });
    if (grpc)
      this.grpcRoutes = watch<GRPCRoute & KubernetesObject>({
        name: 'grpcroutes',
        path: scoped('grpcroutes'),
        list: list('grpcroutes'),
        onChange: routeChange('grpcroute'),
      });
    if (tls)
      this.tlsPolicies = watch<BackendTLSPolicy & KubernetesObject>({
        name: 'backendtlspolicies',
        path: scoped('backendtlspolicies'),
        list: list('backendtlspolicies'),
        onChange: (change, o) => {
          const key = keyOf(o.metadata);
          if (change === 'delete') this.policyByKey.delete(key);
          else this.policyByKey.set(key, o);
          status('backendtlspolicy')(change, o);
        },
      });
    this.grants = watch<ReferenceGrant & KubernetesObject>({
      name: 'referencegrants',
      path: scoped('referencegrants'),
      list: list('referencegrants'),
      onChange: routes,
    });
    // Namespace labels are what allowedRoutes selectors read; a namespaced agent cannot list them.
    if (ns === undefined) {
      const core = kc.makeApiClient(CoreV1Api);
      this.namespaces = watch<Namespace & KubernetesObject>({
        name: 'namespaces',
        path: '/api/v1/namespaces',
        list: () => core.listNamespace() as never,
        onChange: (change, n) => {
          const name = n.metadata?.name ?? '';
          if (change === 'delete') this.namespaceLabels.delete(name);
          else this.namespaceLabels.set(name, n.metadata?.labels ?? {});
          routes();
        },
      });
    }
    for (const c of this.caches()) c?.start();
    this.state = 'on';
    this.opts.log.info(
      `the Gateway API is installed: watching GatewayClasses, Gateways, HTTPRoutes${grpc ? ', GRPCRoutes' : ''}${tls ? ', BackendTLSPolicies' : ''} and ReferenceGrants`,
    );
  }

  /** Our GatewayClasses: those whose controllerName is ours. */
  ourClasses(): Array<GatewayClass & KubernetesObject> {
    return (this.classes?.list() ?? []).filter((c) => c.spec?.controllerName === this.opts.controllerName);
  }

  /** One of our Gateways with its listeners worked out now, or undefined (the status writer's view). */
  gateway(namespace: string, name: string): OurGateway | undefined {
    const g = this.gateways
      ?.list()
      .find((x) => x.metadata?.namespace === namespace && x.metadata?.name === name);
    if (g === undefined) return undefined;
    return this.view(g, new Set(this.ourClasses().map((c) => c.metadata?.name)), this.grantCheck());
  }

  private grantCheck(): GrantCheck {
    const grants = this.grants?.list() ?? [];
    return (...a) => granted(grants, ...a);
  }

  private view(g: Gateway & KubernetesObject, classes: ReadonlySet<string | undefined>, check: GrantCheck) {
    if (!classes.has(g.spec?.gatewayClassName) || g.metadata?.deletionTimestamp !== undefined)
      return undefined;
    const key = keyOf(g.metadata);
    return {
      key,
      namespace: g.metadata?.namespace ?? '',
      gateway: g,
      listeners: listenersOf(g, check, this.opts.secrets),
    };
  }

  /** What the route compile reads: our Gateways with their listeners, the routes, the grants. */
  input(): GatewayRoutesInput {
    const classes = new Set(this.ourClasses().map((c) => c.metadata?.name));
    const grants = this.grants?.list() ?? [];
    const check = this.grantCheck();
    const gateways = new Map<string, OurGateway>();
    for (const g of this.gateways?.list() ?? []) {
      const v = this.view(g, classes, check);
      if (v !== undefined) gateways.set(v.key, v);
    }
    const labels = this.namespaceLabels;
    return {
      gateways,
      httpRoutes: this.httpRoutes?.list() ?? [],
      grpcRoutes: this.grpcRoutes?.list() ?? [],
      tlsPolicies: this.tlsPolicies?.list() ?? [],
      configMaps: this.opts.configMaps,
      grants,
      namespaceLabels: (ns) => labels.get(ns),
    };
  }
}
