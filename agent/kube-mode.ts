import os from 'node:os';
import type { Logger } from 'pino';
import type { CloudflareClient } from './cloudflare/cloudflare-client.js';
import { desiredHosts, dnsConflictMessage, dnsNoZoneMessage } from './cloudflare/desired-hosts.js';
import { DnsController } from './cloudflare/dns-controller.js';
import { RolloutPurger, readyAddresses } from './cloudflare/rollout-purger.js';
import type { AgentConfig, KubeSettings } from './config.js';
import type { IngressController } from './controller/ingress-controller.js';
import type { LeaderElector } from './controller/leader-election.js';
import type { ActivityLog } from './observability/activity-log.js';
import type { AgentMetrics } from './observability/metrics.js';
import { routeResolver, type Resolver } from './routing/resolvers.js';

/** The Kubernetes clients, loaded only in Kubernetes mode so that a static (--url) agent stays small. */
export type KubeClients = Awaited<ReturnType<typeof loadKube>>;

export async function loadKube(kubeconfig: string | undefined) {
  const [clientNode, ...mods] = await Promise.all([
    import('@kubernetes/client-node'),
    import('./controller/event-recorder.js'),
    import('./controller/ingress-controller.js'),
    import('./controller/leader-election.js'),
  ] as const);
  const { loadKubeConfig, checkCredentials } = await import('./kube/kube-config.js');
  const { kc, source } = loadKubeConfig(kubeconfig);
  await checkCredentials(kc, source);
  return {
    kc,
    source,
    mods,
    core: kc.makeApiClient(clientNode.CoreV1Api),
    CoordinationV1Api: clientNode.CoordinationV1Api,
  };
}

/** What Kubernetes mode adds to the agent. */
export interface KubeMode {
  controller: IngressController;
  leader: LeaderElector;
  dns: DnsController | null;
  resolve: Resolver;
}

export interface KubeModeOptions {
  kube: KubeClients;
  settings: KubeSettings;
  config: AgentConfig;
  connectorId: string;
  tunnelHostname: string;
  /** the Cloudflare API client, when there is a token (DNS automation) */
  client: CloudflareClient | null;
  log: Logger;
  metrics: AgentMetrics;
  activity: ActivityLog;
  /** at least one tunnel connection is registered (Ingress status says so) */
  tunnelLive(): boolean;
}

/**
 * Kubernetes mode's parts, wired: the leader election, the Event recorder (feeding the dashboard's
 * activity list), the Ingress controller whose route table the resolver reads, and the leader-only
 * DNS controller triggered by route table swaps and by winning the Lease. Nothing starts here.
 */
const ROUTE_KINDS: Record<string, { apiVersion: string; kind: string }> = {
  httproute: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' },
  grpcroute: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute' },
};

export function kubeMode(o: KubeModeOptions): KubeMode {
  const { kc, mods } = o.kube;
  const { config, log, metrics, activity } = o;
  const [{ EventRecorder }, { IngressController }, { LeaderElector }] = mods;
  const identity = `${process.env.POD_NAME ?? os.hostname()}_${o.connectorId.slice(0, 8)}`;
  const leader = new LeaderElector({
    api: kc.makeApiClient(o.kube.CoordinationV1Api),
    namespace: config.ownNamespace,
    name: o.settings.leaderElectionId,
    identity,
    log,
  });
  const events = new EventRecorder(o.kube.core, identity, log);
  events.onRecorded = (ing, type, reason, message) =>
    activity.add(
      type === 'Warning' ? 'warning' : 'event',
      reason,
      message,
      `${ing.metadata?.namespace ?? ''}/${ing.metadata?.name ?? ''}`,
    );
  let dns: DnsController | null = null;
  let purger: RolloutPurger | null = null;
  const controller = new IngressController({
    kc,
    namespace: o.settings.watchNamespace,
    classPolicy: {
      className: o.settings.ingressClass,
      watchWithoutClass: o.settings.watchIngressWithoutClass,
    },
    log,
    leader,
    events,
    tunnelHostname: o.tunnelHostname,
    tunnelLive: o.tunnelLive,
    metrics,
    onRoutes: () => {
      dns?.trigger();
      purger?.sync();
    },
    onEndpoints: (ns, svc, slices) => purger?.endpoints(ns, svc, readyAddresses(slices)),
    gatewayController: o.settings.gatewayController,
  });
  const cf = config.cloudflare;
  if (o.client !== null)
    purger = new RolloutPurger({
      client: o.client,
      isLeader: () => leader.isLeader && controller.synced,
      ingresses: () => controller.servedIngresses(),
      slices: (ns, svc) => controller.slicesOf(ns, svc),
      event: (ing, type, reason, message) => void events.record(ing, type, reason, message),
      log,
      metrics,
    });
  if (o.client !== null && cf.dns) {
    // The object a DNS host belongs to, for its Event: an Ingress, an HTTPRoute or a GRPCRoute.
    const objectOf = (resource: string) => {
      const slash = resource.indexOf('/');
      const key = resource.slice(slash + 1);
      if (resource.startsWith('ingress/')) return { obj: controller.ingress(key), kind: undefined };
      return {
        obj: controller.gateway?.routeBySource.get(resource),
        kind: ROUTE_KINDS[resource.slice(0, slash)],
      };
    };
    const d = new DnsController({
      client: o.client,
      target: o.tunnelHostname,
      owner: cf.dnsOwnerId,
      policy: cf.dnsPolicy,
      dryRun: cf.dryRun,
      zones: cf.zones,
      desired: () => desiredHosts(controller.table),
      isLeader: () => leader.isLeader && controller.synced,
      onConflict: (c) => {
        const { obj, kind } = objectOf(c.resource);
        if (obj !== undefined) void events.record(obj, 'Warning', 'DNSConflict', dnsConflictMessage(c), kind);
      },
      onNoZone: (host, resource) => {
        const { obj, kind } = objectOf(resource);
        if (obj !== undefined) void events.record(obj, 'Warning', 'DNSNoZone', dnsNoZoneMessage(host), kind);
      },
      log,
      metrics,
      resyncMs: cf.dnsResyncMs,
    });
    leader.on('change', (leading) => {
      if (leading) d.trigger();
    });
    dns = d;
  }
  leader.on('change', (leading) => metrics.leader.set(leading ? 1 : 0));
  log.info(
    {
      kubeconfig: o.kube.source,
      ingressClass: o.settings.ingressClass,
      namespace: o.settings.watchNamespace ?? '(all)',
      identity,
      dns: dns === null ? 'off' : cf.dryRun ? 'dry-run' : cf.dnsPolicy,
    },
    'Kubernetes mode',
  );
  return { controller, leader, dns, resolve: routeResolver(() => controller.table) };
}
