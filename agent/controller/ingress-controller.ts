import {
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, statusOf } from '../kube/errors.js';
import type { AgentMetrics } from '../observability/metrics.js';
import {
  resourceWatches,
  type ChangeKind,
  type WatchFactory,
  type WatchedCache,
} from '../kube/resource-watch.js';
import { classState, isOurs, type ClassPolicy } from '../routing/ingress-selection.js';
import { GatewayStatusWriter } from '../gateway/gateway-status-writer.js';
import { GatewayWatches } from '../gateway/gateway-watches.js';
import type { PolicyOutcome } from '../gateway/backend-tls.js';
import { addGatewayRoutes, type RouteOutcome } from '../gateway/gateway-routes.js';
import { addIngressRoutes, type Diagnostic } from '../routing/ingress-routes.js';
import { RouteTableBuilder } from '../routing/route-table-builder.js';
import { RouteTable } from '../routing/route-table.js';
import { ServiceBackends } from '../routing/service-backends.js';
import {
  keyOf,
  type EndpointSlice,
  type Ingress,
  type IngressClass,
  type Service,
} from '../routing/types.js';
import { SERVICE_NAME_LABEL, UpstreamRegistry } from '../routing/upstreams.js';
import type { EventRecorder } from './event-recorder.js';
import type { LeaderElector } from './leader-election.js';
import { WorkQueue } from './work-queue.js';
import {
  ROUTES,
  endpointsKey,
  gatewayStatusKey,
  keyId,
  statusKey,
  type ControllerKey,
} from './controller-keys.js';
import { ReferencedObjects } from './referenced-objects.js';

export interface IngressControllerOptions {
  kc: KubeConfig;
  namespace?: string;
  classPolicy: ClassPolicy;
  log: Logger;
  leader: LeaderElector;
  events: EventRecorder;
  /** `<tunnel-id>.cfargotunnel.com` */
  tunnelHostname: string;
  tunnelLive(): boolean;
  metrics?: AgentMetrics;
  /** a new route table is in use (DNS follows it) */
  onRoutes?(): void;
  /** a Service's EndpointSlices changed (after its upstreams were refreshed) */
  onEndpoints?(namespace: string, service: string, slices: readonly EndpointSlice[]): void;
  /** how the resources are watched (default: informers against the API server; tests: a fake cache) */
  watch?: WatchFactory;
  /** where Ingress status is written (default: the API server) */
  statusApi?: Pick<NetworkingV1Api, 'patchNamespacedIngressStatus'>;
  /** the GatewayClass controllerName to answer to; null: Gateway API off */
  gatewayController?: string | null;
}

/** Request options that send a patch as application/merge-patch+json. */
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Keys handled at once: status writes wait on the API server; endpoint updates must not wait on them. */
const WORKERS = 4;

/** An EndpointSlice's Service, `namespace/name`: the slices index's key. */
function sliceService(s: EndpointSlice): string | undefined {
  const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  return svc === undefined ? undefined : `${s.metadata?.namespace ?? ''}/${svc}`;
}

/**
 * The ingress controller: watches Ingress, IngressClass, Service, EndpointSlice and Secret, and keeps
 * three things true, each from the current cache through a de-duplicating key queue:
 *  - `routes`: the route table, compiled from scratch and swapped in with one assignment;
 *  - `endpoints/NS/SVC`: that Service's upstreams hold its ready endpoints;
 *  - `status/NS/NAME` (leader only): the Ingress's status names the tunnel when its routes are live.
 * Compile problems become Events on the Ingress (leader only); every other route keeps working.
 */
export class IngressController {
  table: RouteTable = RouteTable.empty();
  readonly upstreams = new UpstreamRegistry();
  readonly queue: WorkQueue<ControllerKey>;
  private generation = 0;
  private readonly ingresses: WatchedCache<Ingress & KubernetesObject>;
  private readonly classes: WatchedCache<IngressClass & KubernetesObject>;
  private readonly services: WatchedCache<Service & KubernetesObject>;
  private readonly slices: WatchedCache<EndpointSlice & KubernetesObject>;
  private readonly secrets: ReferencedObjects;
  /** the ConfigMaps BackendTLSPolicies name (CA bundles) */
  private readonly configMaps: ReferencedObjects;
  private readonly statusApi: Pick<NetworkingV1Api, 'patchNamespacedIngressStatus'>;
  private lastDiagnostics: Diagnostic[] = [];
  /** the Ingress cache by namespace/name, kept from watch events so status checks need no scan */
  private readonly ingressByKey = new Map<string, Ingress>();
  private classProblem: string | null = null;
  /** the Gateway API side, when on: its watches, the last compile's route outcomes, its status writer */
  readonly gateway: GatewayWatches | null;
  private readonly gatewayStatus: GatewayStatusWriter | null;
  private routeOutcomes: ReadonlyMap<string, RouteOutcome> = new Map();
  /** the Ingresses of the last compile (ours) */
  private served: readonly Ingress[] = [];
  private policyOutcomes: ReadonlyMap<string, PolicyOutcome> = new Map();
  /** when the table was last rebuilt, and how long it took */
  lastCompile = { at: 0, ms: 0, ingresses: 0, routes: 0 };

  constructor(private readonly opts: IngressControllerOptions) {
    const { kc, namespace, log } = opts;
    const net = kc.makeApiClient(NetworkingV1Api);
    this.statusApi = opts.statusApi ?? net;
    const watch = opts.watch ?? resourceWatches(kc, log);
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const ns = namespace;
    const scoped = (group: string, plural: string) =>
      ns === undefined ? `${group}/${plural}` : `${group}/namespaces/${encodeURIComponent(ns)}/${plural}`;
    this.queue = new WorkQueue<ControllerKey>((key) => this.timedReconcile(key), {
      id: keyId,
      workers: WORKERS,
      onError: (key, err, retryInMs) => {
        opts.metrics?.reconcileErrors.inc({ kind: key.kind });
        // A status write computed from a cache a step behind the server (its own last write not seen
        // yet) meets 409 by design and is computed again: not worth a warning.
        const level = statusOf(err) === 409 ? 'debug' : 'warn';
        log[level]({ key: keyId(key), err: describeApiError(err), retryInMs }, 'reconcile failed; retrying');
      },
    });
    // The caches hold what the API server returned; the routing code reads them through its own
    // narrower types (routing/types.ts), which differ from client-node's V1 ones in detail (a
    // timestamp read as a string, say), hence the casts of the list answers.
    this.ingresses = watch<Ingress & KubernetesObject>({
      name: 'ingresses',
      path: scoped('/apis/networking.k8s.io/v1', 'ingresses'),
      list: () =>
        (ns === undefined
          ? net.listIngressForAllNamespaces()
          : net.listNamespacedIngress({ namespace: ns })) as never,
      onChange: (kind, o) => this.onIngress(kind, o),
    });
    this.classes = watch<IngressClass & KubernetesObject>({
      name: 'ingressclasses',
      path: '/apis/networking.k8s.io/v1/ingressclasses',
      list: () => net.listIngressClass() as never,
      onChange: () => this.queue.add(ROUTES),
    });
    this.services = watch<Service & KubernetesObject>({
      name: 'services',
      path: scoped('/api/v1', 'services'),
      list: () =>
        (ns === undefined
          ? core.listServiceForAllNamespaces()
          : core.listNamespacedService({ namespace: ns })) as never,
      onChange: () => this.queue.add(ROUTES),
    });
    this.slices = watch<EndpointSlice & KubernetesObject>({
      name: 'endpointslices',
      path: scoped('/apis/discovery.k8s.io/v1', 'endpointslices'),
      list: () =>
        (ns === undefined
          ? discovery.listEndpointSliceForAllNamespaces()
          : discovery.listNamespacedEndpointSlice({ namespace: ns })) as never,
      onChange: (kind: ChangeKind, o) => this.onSlice(kind, o),
      indexBy: sliceService,
    });
    // Origin CA bundles come from Secrets: only those the routes name are watched, and a change to
    // one of them may change how an Ingress reaches its pods.
    this.secrets = new ReferencedObjects(kc, core, () => this.queue.add(ROUTES), log);
    this.configMaps = new ReferencedObjects(kc, core, () => this.queue.add(ROUTES), log, 'configmaps');
    const gatewayController = opts.gatewayController ?? null;
    this.gateway =
      gatewayController === null
        ? null
        : new GatewayWatches({
            kc,
            namespace,
            watch,
            log,
            controllerName: gatewayController,
            secrets: this.secrets.lookup,
            configMaps: this.configMaps.lookup,
            onRoutesChange: () => this.queue.add(ROUTES),
            onObjectChange: (resource, ns, name) => this.queue.add(gatewayStatusKey(resource, ns, name)),
          });
    this.gatewayStatus =
      this.gateway === null || gatewayController === null
        ? null
        : new GatewayStatusWriter(kc, this.gateway, gatewayController, log);
    opts.leader.on('change', (leading) => {
      if (leading) this.queueAllStatus();
    });
  }

  get synced(): boolean {
    return (
      this.ingresses.synced &&
      this.classes.synced &&
      this.services.synced &&
      this.slices.synced &&
      (this.gateway?.settled ?? true)
    );
  }

  /** The cached Ingress `namespace/name`, for Events about it. */
  /** A Service's EndpointSlices as cached now. */
  slicesOf(namespace: string, service: string): readonly EndpointSlice[] {
    return this.slices.indexed(`${namespace}/${service}`);
  }

  /** The Ingresses the agent serves, as of the last compile. */
  servedIngresses(): readonly Ingress[] {
    return this.served;
  }

  ingress(key: string): Ingress | undefined {
    return this.ingressByKey.get(key);
  }

  get diagnostics(): readonly Diagnostic[] {
    return this.lastDiagnostics;
  }

  get watchRestarts(): number {
    return (
      [this.ingresses, this.classes, this.services, this.slices].reduce((n, w) => n + w.restarts, 0) +
      this.secrets.restarts +
      this.configMaps.restarts +
      (this.gateway?.restarts ?? 0)
    );
  }

  start(): void {
    for (const w of [this.classes, this.services, this.slices, this.ingresses]) w.start();
    this.gateway?.start();
    // Until every cache has listed once, a compile would see half the world; poll for that moment.
    const wait = setInterval(() => {
      if (!this.synced) return;
      clearInterval(wait);
      this.opts.log.info('caches synced');
      this.queue.add(ROUTES);
    }, 20);
  }

  async stop(): Promise<void> {
    this.queue.stop();
    await Promise.all(
      [
        this.ingresses,
        this.classes,
        this.services,
        this.slices,
        this.secrets,
        this.configMaps,
        this.gateway,
      ].map((w) => w?.stop()),
    );
  }

  /** The tunnel came up or went down: statuses depend on it. */
  tunnelChanged(): void {
    this.queueAllStatus();
  }

  private onIngress(kind: ChangeKind, o: Ingress): void {
    if (kind === 'delete') this.ingressByKey.delete(keyOf(o.metadata));
    else this.ingressByKey.set(keyOf(o.metadata), o);
    this.queue.add(ROUTES);
    this.queue.add(statusKey(o.metadata?.namespace ?? '', o.metadata?.name ?? ''));
  }

  private onSlice(_kind: ChangeKind, o: EndpointSlice): void {
    const svc = o.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc !== undefined) this.queue.add(endpointsKey(o.metadata?.namespace ?? '', svc));
  }

  private queueAllStatus(): void {
    for (const i of this.ingresses.list())
      this.queue.add(statusKey(i.metadata?.namespace ?? '', i.metadata?.name ?? ''));
    const g = this.gateway;
    if (g === null || g.state !== 'on' || !this.opts.leader.isLeader) return;
    for (const c of g.ourClasses())
      this.queue.add(gatewayStatusKey('gatewayclass', '', c.metadata?.name ?? ''));
    for (const gw of g.input().gateways.values())
      this.queue.add(gatewayStatusKey('gateway', gw.namespace, gw.gateway.metadata?.name ?? ''));
    for (const o of this.routeOutcomes.values()) {
      const [ns, name] = o.key.split('/') as [string, string];
      this.queue.add(gatewayStatusKey(o.kind === 'GRPCRoute' ? 'grpcroute' : 'httproute', ns, name));
    }
    for (const key of this.policyOutcomes.keys()) {
      const [ns, name] = key.split('/') as [string, string];
      this.queue.add(gatewayStatusKey('backendtlspolicy', ns, name));
    }
  }

  private async timedReconcile(key: ControllerKey): Promise<void> {
    const t0 = performance.now();
    try {
      await this.reconcile(key);
    } finally {
      this.opts.metrics?.reconcileDuration.observe({ kind: key.kind }, (performance.now() - t0) / 1000);
    }
  }

  private async reconcile(key: ControllerKey): Promise<void> {
    if (!this.synced) return;
    switch (key.kind) {
      case 'routes':
        return this.rebuildRoutes();
      case 'endpoints': {
        const slices = this.slices.indexed(`${key.namespace}/${key.service}`);
        this.upstreams.refresh(key.namespace, key.service, slices);
        this.opts.onEndpoints?.(key.namespace, key.service, slices);
        return;
      }
      case 'status':
        return this.reconcileStatus(`${key.namespace}/${key.name}`);
      case 'gateway-status':
        if (!this.opts.leader.isLeader || this.gatewayStatus === null) return;
        return this.gatewayStatus.write(key.resource, key.namespace, key.name, {
          outcomes: this.routeOutcomes,
          policies: this.policyOutcomes,
          tunnelHostname: this.opts.tunnelHostname,
          live: this.opts.tunnelLive(),
        });
    }
  }

  private rebuildRoutes(): void {
    const t0 = performance.now();
    const policy = this.opts.classPolicy;
    const state = classState(this.classes.list(), policy);
    if (state.problem !== this.classProblem) {
      this.classProblem = state.problem;
      if (state.problem !== null)
        this.opts.log.warn(
          { problem: state.problem },
          'our IngressClass is not usable; only Ingresses selected by annotation or without a class (if allowed) are served',
        );
    }
    const ours = this.ingresses.list().filter((i) => isOurs(i, state, policy));
    this.served = ours;
    const services = new Map<string, Service>();
    for (const s of this.services.list()) services.set(keyOf(s.metadata), s);
    // One compile of every source into one table; nothing in use changes until the apply and the swap.
    const builder = new RouteTableBuilder();
    const backends = new ServiceBackends(services, this.upstreams.existing);
    const ing = addIngressRoutes(ours, builder, backends, this.secrets.lookup);
    const gw =
      this.gateway?.state === 'on'
        ? addGatewayRoutes(this.gateway.input(), builder, backends)
        : { outcomes: [], sources: [], policies: [] };
    const table = builder.build(++this.generation, ing.defaultBackend, [...ing.sources, ...gw.sources]);
    const diagnostics = ing.diagnostics;
    this.secrets.retain();
    this.configMaps.retain();
    // The compile changed nothing in use; its upstreams become the ones in use, then the table.
    this.upstreams.apply(backends.upstreams, (ns, svc) => this.slices.indexed(`${ns}/${svc}`));
    this.routeOutcomes = new Map(gw.outcomes.map((o) => [o.source, o]));
    this.policyOutcomes = new Map(gw.policies.map((p) => [p.key, p]));
    this.table = table;
    this.opts.onRoutes?.();
    this.opts.metrics?.routeGeneration.set(table.generation);
    this.lastDiagnostics = diagnostics;
    const ms = performance.now() - t0;
    this.lastCompile = { at: Date.now(), ms, ingresses: ours.length, routes: table.entries.length };
    this.opts.log.debug(
      {
        generation: table.generation,
        ingresses: ours.length,
        routes: table.entries.length,
        ms: Math.round(ms * 10) / 10,
      },
      'route table rebuilt',
    );
    if (this.opts.leader.isLeader && diagnostics.length > 0) void this.emitDiagnostics(diagnostics);
    this.queueAllStatus();
  }

  private async emitDiagnostics(diagnostics: Diagnostic[]): Promise<void> {
    const byKey = new Map(this.ingresses.list().map((i) => [keyOf(i.metadata), i]));
    for (const d of diagnostics) {
      const ing = byKey.get(d.ingress);
      if (ing !== undefined) await this.opts.events.record(ing, d.type, d.reason, d.message);
    }
  }

  private async reconcileStatus(ingKey: string): Promise<void> {
    if (!this.opts.leader.isLeader) return;
    const ing = this.ingressByKey.get(ingKey);
    if (ing === undefined) return;
    const ourHost = this.opts.tunnelHostname;
    const current = ing.status?.loadBalancer?.ingress ?? [];
    const served = this.table.serves(`ingress/${ingKey}`);
    const live = served && this.opts.tunnelLive();
    const mine = current.length === 1 && current[0]?.hostname === ourHost;
    let desired: Array<{ hostname: string }>;
    if (live) desired = [{ hostname: ourHost }];
    else if (mine && !served)
      desired = []; // it left our class: take our address back
    else return; // not ours, or ours but not live yet: leave the status as it is
    if (JSON.stringify(current.map((c) => ({ hostname: c.hostname }))) === JSON.stringify(desired)) return;
    // A merge patch of the status alone, conditional on the version we decided from (a newer one
    // gets 409 and this key is computed again). A PUT of /status would also write the metadata it
    // carries: the real API server takes labels and annotations from it, so anything short of the
    // whole object erases the user's (kubectl's last-applied-configuration among them).
    await this.statusApi.patchNamespacedIngressStatus(
      {
        name: ing.metadata?.name as string,
        namespace: ing.metadata?.namespace as string,
        body: {
          metadata: { resourceVersion: ing.metadata?.resourceVersion },
          status: { loadBalancer: { ingress: desired } },
        },
      },
      MERGE_PATCH,
    );
    this.opts.log.info({ ingress: ingKey, address: desired[0]?.hostname ?? null }, 'ingress status written');
  }
}
