import { randomUUID } from 'node:crypto';
import type { TunnelCredentials } from '../tunnel/credentials.js';
import { udpSendMode } from '../tunnel/quic/udp-batch.js';
import type { HostPort } from '../common/net.js';
import { AdminServer, isLoopback } from './admin/admin-server.js';
import { ApiPacer } from './cloudflare/api-pacer.js';
import type { CloudflareClient } from './cloudflare/cloudflare-client.js';
import { credentialsSecret, readApiToken } from './cloudflare/kube-secrets.js';
import { ensureTunnel } from './cloudflare/tunnel-bootstrap.js';
import type { AgentConfig } from './config.js';
import { discoverEdge, protocolFromRecord, srvName } from './connect/edge-discovery.js';
import { TunnelSupervisor } from './connect/tunnel-supervisor.js';
import { kubeMode, loadKube, type KubeMode } from './kube-mode.js';
import { ActivityLog } from './observability/activity-log.js';
import { createLoggers, type Loggers } from './observability/log.js';
import { AgentMetrics } from './observability/metrics.js';
import { RequestLog } from './observability/request-log.js';
import { OriginPools } from './proxy/origin-pools.js';
import { RequestPipeline } from './proxy/pipeline.js';
import { RequestRecorder } from './proxy/request-recorder.js';
import { describeRoutes } from './routing/describe-routes.js';
import { staticResolver } from './routing/resolvers.js';
import { agentVersion } from './version.js';

/** A running agent. */
export interface RunningAgent {
  addresses: { admin: HostPort };
  connectorId: string;
  tunnelId: string;
  log: Loggers['log'];
  /**
   * Unregisters every connection (the edge routes nothing new here), lets requests in flight finish
   * within the grace period, then stops everything and writes out the logs.
   */
  close(gracePeriodMs?: number): Promise<void>;
}

/**
 * The agent's composition root: builds every part from a checked configuration, wires them, starts
 * them, and hands back where it listens and how to stop it. main.ts only parses flags and signals;
 * tests start agents in process through here.
 */
export async function startAgent(config: AgentConfig, given?: { loggers?: Loggers }): Promise<RunningAgent> {
  const metrics = new AgentMetrics();
  const loggers =
    given?.loggers ??
    createLoggers(config.logLevel, { pretty: config.logPretty, accessLog: config.accessLog });
  loggers.onDrop((lines) => metrics.logLinesDropped.inc(lines));
  const { log } = loggers;
  if (config.insecureSkipVerify)
    log.warn(
      'edge certificate verification is OFF (--no-tls-verify): anyone on the path can impersonate the edge',
    );
  const connectorId = randomUUID();
  const requests = new RequestLog(1000);
  const activity = new ActivityLog(200);
  const cf = config.cloudflare;
  const kubeSettings = config.origins.mode === 'kubernetes' ? config.origins.kube : null;
  const kube = kubeSettings === null ? null : await loadKube(kubeSettings.kubeconfig);
  const apiToken =
    cf.apiToken ??
    (cf.apiTokenSecret !== undefined && kube !== null
      ? await readApiToken(kube.core, config.ownNamespace, cf.apiTokenSecret)
      : undefined);
  // The SDK is loaded only when there is a token to use it with.
  const client: CloudflareClient | null =
    apiToken !== undefined && cf.accountId !== undefined
      ? new (await import('./cloudflare/cloudflare-client.js')).CloudflareClient({
          apiToken,
          accountId: cf.accountId,
          baseURL: cf.baseURL,
          pacer: new ApiPacer({ limit: cf.apiLimit, on429: () => metrics.cloudflareRateLimited.inc() }),
        })
      : null;
  const credentials =
    config.tunnel.kind === 'credentials'
      ? config.tunnel.credentials
      : await ensureTunnel({
          client: client as CloudflareClient,
          name: config.tunnel.name,
          secret:
            kube === null ? null : credentialsSecret(kube.core, config.ownNamespace, cf.credentialsSecret),
          log,
        });
  const tunnelId = credentials.tunnelId;
  let supervisor: TunnelSupervisor | null = null;
  const k: KubeMode | null =
    kube === null || kubeSettings === null
      ? null
      : kubeMode({
          kube,
          settings: kubeSettings,
          config,
          connectorId,
          tunnelHostname: `${tunnelId}.cfargotunnel.com`,
          client,
          log,
          metrics,
          activity,
          tunnelLive: () => (supervisor?.readyConnections ?? 0) > 0,
        });
  const staticUrl = config.origins.mode === 'static' ? config.origins.url : null;
  const pipeline = new RequestPipeline({
    resolve: k?.resolve ?? staticResolver(staticUrl as URL),
    connectorId,
    log,
    metrics,
    recorder: new RequestRecorder(metrics, requests, loggers.access, (r) =>
      activity.add('error', 'OriginError', `${r.method} ${r.path}: ${r.error ?? ''}`, r.authority),
    ),
    pools: new OriginPools({ log }),
  });
  const sup = await startSupervisor(config, { connectorId, credentials, log, metrics, activity, pipeline });
  supervisor = sup;
  let wasLive = false;
  sup.on('change', () => {
    const live = sup.readyConnections > 0;
    if (live !== wasLive) {
      wasLive = live;
      k?.controller.tunnelChanged();
    }
  });
  const routes = () =>
    k === null ? { mode: 'static', origin: staticUrl?.origin } : describeRoutes(k.controller);
  const admin = new AdminServer(config.metrics, {
    connectorId,
    readyConnections: () => (k === null || k.controller.synced ? sup.readyConnections : 0),
    metrics,
    requests,
    routes,
    overview: () => ({
      tunnelId,
      connectorId,
      version: agentVersion(),
      connections: sup.status,
      routes: routes(),
      activity: activity.recent(),
      leader: k === null ? null : k.leader.isLeader,
      cachesSynced: k === null ? null : k.controller.synced,
      dns:
        k?.dns == null
          ? { mode: 'off' }
          : {
              mode: cf.dryRun ? 'dry-run' : cf.dnsPolicy,
              lastSyncAt: k.dns.lastSyncAt,
              lastError: k.dns.lastError,
              conflicts: k.dns.conflicts,
            },
    }),
    adminToken: config.adminToken,
    adminHosts: config.adminHosts,
  });
  const adminAddress = await admin.listen();
  const quicUdpSend = udpSendMode();
  metrics.quicUdpSend.set({ mode: quicUdpSend }, 1);
  log.info(
    {
      connectorId,
      tunnelId,
      metrics: `${adminAddress.host}:${adminAddress.port}`,
      dashboard: dashboardUrl(adminAddress, config.adminToken !== undefined),
      mode: config.origins.mode,
      quicUdpSend,
      ...(staticUrl === null ? {} : { origin: staticUrl.origin }),
    },
    'tunnel-ingress starting',
  );
  k?.controller.start();
  k?.leader.start();
  sup.start();
  let closing: Promise<void> | null = null;
  return {
    addresses: { admin: adminAddress },
    connectorId,
    tunnelId,
    log,
    close(gracePeriodMs = config.gracePeriodMs) {
      closing ??= sup
        .shutdown(gracePeriodMs)
        .then(() => {
          k?.dns?.stop();
          return Promise.all([k?.leader.stop(), k?.controller.stop(), pipeline.close(), admin.close()]);
        })
        .then(() => {
          log.info('stopped');
          return loggers.flush();
        });
      return closing;
    },
  };
}

interface SupervisorParts {
  connectorId: string;
  credentials: TunnelCredentials;
  log: Loggers['log'];
  metrics: AgentMetrics;
  activity: ActivityLog;
  pipeline: RequestPipeline;
}

/**
 * The tunnel connections: the edge from --edge or found through DNS (a lookup that fails stops the
 * agent with that one line, as cloudflared stops), auto's first transport from Cloudflare's protocol
 * record, and the supervisor's state mirrored into metrics and the activity list.
 */
async function startSupervisor(config: AgentConfig, p: SupervisorParts): Promise<TunnelSupervisor> {
  const { log, metrics, activity } = p;
  const discover = () => discoverEdge(config.discovery);
  let regions: HostPort[][] = [config.edges];
  if (config.edges.length === 0) {
    regions = await discover();
    log.info(
      {
        srv: srvName(config.discovery.region),
        regions: regions.map((r) => r.map((e) => `${e.host}:${e.port}`)),
      },
      'edge discovered',
    );
  }
  const autoFirst =
    config.protocol === 'auto' && config.edges.length === 0
      ? await protocolFromRecord(p.credentials.accountTag, config.discovery)
      : null;
  if (autoFirst !== null) log.info({ protocol: autoFirst }, 'auto: the protocol record chose the transport');
  const pipeline = p.pipeline;
  const sup = new TunnelSupervisor({
    credentials: p.credentials,
    regions,
    ...(autoFirst === null ? {} : { autoFirst }),
    quicRecoveryProbeMs: config.quicRecoveryMs,
    rediscover: config.edges.length > 0 ? undefined : discover,
    localAddress: config.edgeBindAddress,
    ca: config.ca,
    insecureSkipVerify: config.insecureSkipVerify,
    haConnections: config.haConnections,
    connectorId: p.connectorId,
    version: agentVersion(),
    log,
    protocol: config.protocol,
    onRequest: (req) => pipeline.serve(req),
  });
  sup.on('failure', (code) => metrics.registrationFailures.inc({ code }));
  const lastErrors = new Map<number, string | null>();
  sup.on('change', (s) => {
    if (s.lastError !== null && s.state === 'backoff' && lastErrors.get(s.index) !== s.lastError)
      activity.add('error', 'TunnelConnection', s.lastError, `connection ${s.index}`);
    lastErrors.set(s.index, s.lastError);
    metrics.connections.reset();
    for (const c of sup.status) {
      if (c.state === 'registered')
        metrics.connections.set(
          { index: String(c.index), location: c.location ?? '', protocol: c.protocol },
          1,
        );
    }
  });
  sup.on('reconnect', (index) => metrics.reconnects.inc({ index: String(index) }));
  return sup;
}

/** Where the dashboard is, for the start-up line; beyond loopback it needs the admin token (not shown). */
function dashboardUrl(a: { host: string; port: number }, hasToken: boolean): string {
  const loopback = isLoopback(a.host);
  if (!loopback && !hasToken) return 'off (not loopback and no --admin-token-file)';
  const host =
    a.host === '0.0.0.0' || a.host === '::' ? '127.0.0.1' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `http://${host}:${a.port}/dashboard${loopback ? '' : ' (with the admin token)'}`;
}
