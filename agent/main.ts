import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { AdminServer, isLoopback } from './admin-server.js';
import { buildConfig } from './config.js';
import type { IngressController } from './controller/ingress-controller.js';
import type { LeaderElector } from './controller/leader-election.js';
import { createLogger } from './log.js';
import { AgentMetrics } from './metrics.js';
import { OriginProxy } from './origin-proxy.js';
import { ActivityLog } from './activity-log.js';
import { RequestLog } from './request-log.js';
import { describeRoutes } from './routing/describe-routes.js';
import { routeResolver, staticResolver } from './resolvers.js';
import { TunnelSupervisor } from './tunnel-supervisor.js';
import { discoverEdge, protocolFromRecord, srvName } from './edge-discovery.js';
import type { HostPort } from '../common/net.js';
import { proxyWebsocket } from './websocket-proxy.js';
import { agentVersion } from './version.js';
import { ApiPacer } from './cloudflare/api-pacer.js';
import type { CloudflareClient } from './cloudflare/cloudflare-client.js';
import { DnsController } from './cloudflare/dns-controller.js';
import { credentialsSecret, readApiToken } from './cloudflare/kube-secrets.js';
import { ensureTunnel } from './cloudflare/tunnel-bootstrap.js';
import { parseCli } from '../common/cli.js';
import type { RouteTable } from './routing/route-table.js';

/** host → ingress/NS/NAME for every named host of the table (the first Ingress by name wins). */
function desiredHosts(table: RouteTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of table.entries) {
    if (e.host === '') continue;
    const resource = `ingress/${e.backend.ingress}`;
    const prev = out.get(e.host);
    if (prev === undefined || resource < prev) out.set(e.host, resource);
  }
  return out;
}

async function loadKube(kubeconfig: string | undefined) {
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

/** Where the dashboard is, for the start-up line; beyond loopback it needs the admin token (not shown). */
function dashboardUrl(a: { host: string; port: number }, hasToken: boolean): string {
  const loopback = isLoopback(a.host);
  if (!loopback && !hasToken) return 'off (not loopback and no --admin-token-file)';
  const host =
    a.host === '0.0.0.0' || a.host === '::' ? '127.0.0.1' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `http://${host}:${a.port}/dashboard${loopback ? '' : ' (with the admin token)'}`;
}

const USAGE = `tunnel-ingress: publish services through an outbound Cloudflare tunnel

Tunnel:
  --credentials-file FILE   cloudflared credentials file (or TUNNEL_CRED_FILE)
  --token TOKEN             tunnel token (or TUNNEL_TOKEN)
  --edge HOST:PORT          edge address, repeatable (or TUNNEL_EDGE, comma-separated); without it
                            the edge is found through DNS (SRV _v2-origintunneld._tcp.argotunnel.com)
  --region NAME             the edge's region service, e.g. us (or TUNNEL_REGION)
  --edge-ip-version V       4, 6 or auto (default auto; or TUNNEL_EDGE_IP_VERSION)
  --edge-bind-address IP    the local address edge connections leave from (or TUNNEL_EDGE_BIND_ADDRESS)
  --quic-recovery-interval DURATION  auto, after falling back from QUIC: how often to check that QUIC
                            gets through again, then move back to it (default 1m)
  --cacert FILE             trust only this CA for the edge (or TUNNEL_CACERT); default:
                            Cloudflare's edge roots (shipped) and the public roots
  --no-tls-verify           do not verify the edge's certificate (logs a warning)
  --protocol P              quic, http2 or auto (default auto: HTTP/2, QUIC where TCP is blocked)
  --ha-connections N        tunnel connections to keep (default 4)
  --grace-period DURATION   how long in-flight requests may finish on SIGTERM (default 30s)

Cloudflare (tunnel lifecycle and DNS; see docs/cloudflare.md):
  --tunnel-name NAME        find or create this tunnel instead of --token/--credentials-file
  --tunnel-credentials-secret NAME  where replicas share its credentials (default tunnel-ingress-credentials)
  --cloudflare-api-token-file FILE  API token (or CLOUDFLARE_API_TOKEN)
  --cloudflare-api-token-secret NAME  a Secret in our namespace whose api-token key holds it
  --account-id ID           Cloudflare account (or CLOUDFLARE_ACCOUNT_ID)
  --cloudflare-api-base-url URL     default https://api.cloudflare.com/client/v4
  --zone NAME               manage DNS only in this zone (repeatable; default: every zone the token sees)
  --dns-owner-id ID         ownership id in the TXT records (default tunnel-ingress)
  --dns-policy P            sync (default) or upsert-only (never delete)
  --dry-run                 log DNS changes, make none
  --no-dns                  no DNS automation even with a token
  --dns-resync DURATION     full DNS resync period (default 1m)
  --cloudflare-api-limit N  API calls per 5 minutes (default 1000; Cloudflare allows 1200)

Origins, one of:
  --url URL                 static mode: every request goes to this origin, e.g. http://127.0.0.1:8080
  (no --url)                Kubernetes mode: route by the Ingresses of our IngressClass
  --kubeconfig FILE         Kubernetes credentials (default: KUBECONFIG, in-cluster, ~/.kube/config)
  --watch-namespace NS      only this namespace (default: all)
  --ingress-class NAME      our IngressClass (default cloudflare-tunnel; controller tunnel-ingress.dev/agent)
  --watch-ingress-without-class   also serve Ingresses that name no class
  --leader-election-namespace NS  where the Lease lives (default: POD_NAMESPACE or default)
  --leader-election-id NAME       the Lease's name (default tunnel-ingress-leader)

Operations:
  --metrics HOST:PORT       admin endpoints /ready and /healthz (default 127.0.0.1:0)
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  --log-pretty              human-readable logs
  --no-access-log           no log line per request (metrics and /requests still count them)
  --admin-token-file FILE   token for the dashboard and debug endpoints when --metrics is not loopback
                            (or TUNNEL_ADMIN_TOKEN); without one they are off there. The dashboard: /dashboard
  --admin-host NAME         a Host name the admin endpoints answer on a loopback address, besides
                            localhost and loopback IPs (repeatable; anything else gets 403: DNS rebinding)
  --version                 print the version
  -h, --help                this text
`;

async function main(): Promise<void> {
  const values = parseCli('tunnel-ingress', USAGE, {
    'credentials-file': { type: 'string' },
    'cred-file': { type: 'string' },
    token: { type: 'string' },
    edge: { type: 'string', multiple: true },
    region: { type: 'string' },
    'edge-ip-version': { type: 'string' },
    'edge-bind-address': { type: 'string' },
    'edge-discovery-resolver': { type: 'string' },
    'edge-discovery-dot': { type: 'string' },
    'quic-recovery-interval': { type: 'string' },
    cacert: { type: 'string' },
    'no-tls-verify': { type: 'boolean' },
    protocol: { type: 'string', short: 'p' },
    'ha-connections': { type: 'string' },
    url: { type: 'string' },
    kubeconfig: { type: 'string' },
    'watch-namespace': { type: 'string' },
    'ingress-class': { type: 'string' },
    'watch-ingress-without-class': { type: 'boolean' },
    'leader-election-namespace': { type: 'string' },
    'leader-election-id': { type: 'string' },
    metrics: { type: 'string' },
    'grace-period': { type: 'string' },
    'log-level': { type: 'string' },
    'log-pretty': { type: 'boolean' },
    'no-access-log': { type: 'boolean' },
    'admin-token-file': { type: 'string' },
    'admin-host': { type: 'string', multiple: true },
    'tunnel-name': { type: 'string' },
    'tunnel-credentials-secret': { type: 'string' },
    'cloudflare-api-token-file': { type: 'string' },
    'cloudflare-api-token-secret': { type: 'string' },
    'cloudflare-api-base-url': { type: 'string' },
    'account-id': { type: 'string' },
    zone: { type: 'string', multiple: true },
    'no-dns': { type: 'boolean' },
    'dns-owner-id': { type: 'string' },
    'dns-policy': { type: 'string' },
    'dry-run': { type: 'boolean' },
    'dns-resync': { type: 'string' },
    'cloudflare-api-limit': { type: 'string' },
  });
  if (values === null) return;
  const config = buildConfig(
    { ...values, 'credentials-file': values['credentials-file'] ?? values['cred-file'] },
    process.env,
  );
  const log = createLogger(config.logLevel, config.logPretty);
  if (config.insecureSkipVerify)
    log.warn(
      'edge certificate verification is OFF (--no-tls-verify): anyone on the path can impersonate the edge',
    );
  const connectorId = randomUUID();
  const metrics = new AgentMetrics();
  const requests = new RequestLog(1000);
  const activity = new ActivityLog(200);
  requests.subscribe((r) => {
    if (r.error !== undefined)
      activity.add('error', 'OriginError', `${r.method} ${r.path}: ${r.error}`, r.host);
  });
  let controller: IngressController | null = null;
  let leader: LeaderElector | null = null;
  let resolve = config.url === undefined ? null : staticResolver(config.url);
  let supervisor: TunnelSupervisor | null = null;
  let dns: DnsController | null = null;
  const cf = config.cloudflare;
  // Kubernetes support is loaded only when used: a static (--url) agent stays small.
  const kube = resolve === null ? await loadKube(config.kube.kubeconfig) : null;
  const ownNamespace = config.kube.leaderElectionNamespace;
  let apiToken = cf.apiToken;
  if (apiToken === undefined && cf.apiTokenSecret !== undefined) {
    if (kube === null) throw new Error('--cloudflare-api-token-secret needs Kubernetes mode');
    apiToken = await readApiToken(kube.core, ownNamespace, cf.apiTokenSecret);
  }
  // The SDK is loaded only when there is a token to use it with.
  const client =
    apiToken !== undefined && cf.accountId !== undefined
      ? new (await import('./cloudflare/cloudflare-client.js')).CloudflareClient({
          apiToken,
          accountId: cf.accountId,
          baseURL: cf.baseURL,
          pacer: new ApiPacer({ limit: cf.apiLimit, on429: () => metrics.cloudflareRateLimited.inc() }),
        })
      : null;
  let credentials = config.credentials;
  if (credentials === undefined) {
    credentials = await ensureTunnel({
      client: client as CloudflareClient,
      name: cf.tunnelName as string,
      secret: kube === null ? null : credentialsSecret(kube.core, ownNamespace, cf.credentialsSecret),
      log,
    });
  }
  const tunnelId = credentials.tunnelId;
  const tunnelHostname = `${tunnelId}.cfargotunnel.com`;
  if (kube !== null) {
    const { kc, source, mods } = kube;
    const [{ EventRecorder }, { IngressController }, { LeaderElector }] = mods;
    const identity = `${process.env.POD_NAME ?? os.hostname()}_${connectorId.slice(0, 8)}`;
    const elector = new LeaderElector({
      api: kc.makeApiClient(kube.CoordinationV1Api),
      namespace: config.kube.leaderElectionNamespace,
      name: config.kube.leaderElectionId,
      identity,
      log,
    });
    leader = elector;
    const events = new EventRecorder(kube.core, identity, log);
    events.onRecorded = (ing, type, reason, message) =>
      activity.add(
        type === 'Warning' ? 'warning' : 'event',
        reason,
        message,
        `${ing.metadata?.namespace ?? ''}/${ing.metadata?.name ?? ''}`,
      );
    const ctl = new IngressController({
      kc,
      namespace: config.kube.watchNamespace,
      classPolicy: {
        className: config.kube.ingressClass,
        watchWithoutClass: config.kube.watchIngressWithoutClass,
      },
      log,
      leader: elector,
      events,
      tunnelHostname,
      tunnelLive: () => (supervisor?.readyConnections ?? 0) > 0,
      metrics,
      onRoutes: () => dns?.trigger(),
    });
    controller = ctl;
    resolve = routeResolver(() => ctl.table);
    if (client !== null && cf.dns) {
      const ingressOf = (resource: string) => ctl.ingress(resource.replace(/^ingress\//, ''));
      dns = new DnsController({
        client,
        target: tunnelHostname,
        owner: cf.dnsOwnerId,
        policy: cf.dnsPolicy,
        dryRun: cf.dryRun,
        zones: cf.zones,
        desired: () => desiredHosts(ctl.table),
        isLeader: () => elector.isLeader && ctl.synced,
        onConflict: (c) => {
          const ing = ingressOf(c.resource);
          if (ing !== undefined)
            void events.record(
              ing,
              'Warning',
              'DNSConflict',
              `DNS name ${c.host} is held by records this agent does not own (${c.held}); left alone`,
            );
        },
        onNoZone: (host, resource) => {
          const ing = ingressOf(resource);
          if (ing !== undefined)
            void events.record(
              ing,
              'Warning',
              'DNSNoZone',
              `no Cloudflare zone of this account holds ${host}; no DNS record made`,
            );
        },
        log,
        metrics,
        resyncMs: cf.dnsResyncMs,
      });
      const d = dns;
      elector.on('change', (leading) => {
        if (leading) d.trigger();
      });
    }
    log.info(
      {
        kubeconfig: source,
        ingressClass: config.kube.ingressClass,
        namespace: config.kube.watchNamespace ?? '(all)',
        identity,
        dns: dns === null ? 'off' : cf.dryRun ? 'dry-run' : cf.dnsPolicy,
      },
      'Kubernetes mode',
    );
  }
  if (resolve === null) throw new Error('internal: no resolver');
  const proxy = new OriginProxy({
    resolve,
    connectorId,
    log,
    metrics,
    requests,
    accessLog: config.accessLog,
  });
  const discover = () => discoverEdge(config.discovery);
  let regions: HostPort[][] = [config.edges];
  if (config.edges.length === 0) {
    // A lookup that fails stops the agent with that one line (exit 2), as cloudflared stops.
    regions = await discover();
    log.info(
      {
        srv: srvName(config.discovery.region),
        regions: regions.map((r) => r.map((e) => `${e.host}:${e.port}`)),
      },
      'edge discovered',
    );
  }
  // auto, on Cloudflare's edge: the transport Cloudflare's protocol record gives this account.
  const autoFirst =
    config.protocol === 'auto' && config.edges.length === 0
      ? await protocolFromRecord(credentials.accountTag, config.discovery)
      : null;
  if (autoFirst !== null) log.info({ protocol: autoFirst }, 'auto: the protocol record chose the transport');
  const sup = new TunnelSupervisor({
    credentials,
    regions,
    ...(autoFirst === null ? {} : { autoFirst }),
    quicRecoveryProbeMs: config.quicRecoveryMs,
    rediscover: config.edges.length > 0 ? undefined : discover,
    localAddress: config.edgeBindAddress,
    ca: config.ca,
    insecureSkipVerify: config.insecureSkipVerify,
    haConnections: config.haConnections,
    connectorId,
    version: agentVersion(),
    log,
    protocol: config.protocol,
    onRequest(req) {
      if (req.kind === 'http') proxy.handle(req);
      else if (req.kind === 'websocket') proxyWebsocket(proxy, req);
      // TCP (WARP routing) streams are not something an ingress serves.
      else req.responder.fail(req.stream, 'TCP streams are not supported');
    },
  });
  supervisor = sup;
  let wasLive = false;
  sup.on('failure', (code) => metrics.registrationFailures.inc({ code }));
  const lastErrors = new Map<number, string | null>();
  sup.on('change', (s) => {
    if (s.lastError !== null && s.state === 'backoff' && lastErrors.get(s.index) !== s.lastError)
      activity.add('error', 'TunnelConnection', s.lastError, `connection ${s.index}`);
    lastErrors.set(s.index, s.lastError);
  });
  sup.on('reconnect', (index) => metrics.reconnects.inc({ index: String(index) }));
  leader?.on('change', (leading) => metrics.leader.set(leading ? 1 : 0));
  sup.on('change', () => {
    metrics.connections.reset();
    for (const s of sup.status) {
      if (s.state === 'registered')
        metrics.connections.set(
          { index: String(s.index), location: s.location ?? '', protocol: s.protocol },
          1,
        );
    }
    const live = sup.readyConnections > 0;
    if (live !== wasLive) {
      wasLive = live;
      controller?.tunnelChanged();
    }
  });
  const ready = () => (controller === null || controller.synced ? sup.readyConnections : 0);
  const admin = new AdminServer(config.metrics, {
    connectorId,
    readyConnections: ready,
    metrics,
    requests,
    routes: () =>
      controller === null ? { mode: 'static', origin: config.url?.origin } : describeRoutes(controller),
    overview: () => ({
      tunnelId,
      connectorId,
      version: agentVersion(),
      connections: sup.status,
      routes:
        controller === null ? { mode: 'static', origin: config.url?.origin } : describeRoutes(controller),
      activity: activity.recent(),
      leader: leader === null ? null : leader.isLeader,
      cachesSynced: controller === null ? null : controller.synced,
      dns:
        dns === null
          ? { mode: 'off' }
          : {
              mode: cf.dryRun ? 'dry-run' : cf.dnsPolicy,
              lastSyncAt: dns.lastSyncAt,
              lastError: dns.lastError,
              conflicts: dns.conflicts,
            },
    }),
    adminToken: config.adminToken,
    adminHosts: config.adminHosts,
  });
  const adminAddress = await admin.listen();
  log.info(
    {
      connectorId,
      tunnelId: credentials.tunnelId,
      metrics: `${adminAddress.host}:${adminAddress.port}`,
      dashboard: dashboardUrl(adminAddress, config.adminToken !== undefined),
      mode: config.url === undefined ? 'kubernetes' : 'static',
      ...(config.url === undefined ? {} : { origin: config.url.origin }),
    },
    'tunnel-ingress starting',
  );
  controller?.start();
  leader?.start();
  sup.start();

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    log.info({ signal, gracePeriodMs: config.gracePeriodMs }, 'shutting down: unregistering and draining');
    sup
      .shutdown(config.gracePeriodMs)
      .then(() => {
        dns?.stop();
        return Promise.all([leader?.stop(), controller?.stop(), proxy.close(), admin.close()]);
      })
      .then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error({ err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`tunnel-ingress: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
