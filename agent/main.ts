import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { AdminServer } from './admin-server.js';
import { buildConfig } from './config.js';
import type { IngressController } from './controller/ingress-controller.js';
import type { LeaderElector } from './controller/leader-election.js';
import { createLogger } from './log.js';
import { AgentMetrics } from './metrics.js';
import { OriginProxy } from './origin-proxy.js';
import { RequestLog } from './request-log.js';
import { describeRoutes } from './routing/describe-routes.js';
import { routeResolver, staticResolver } from './resolvers.js';
import { TunnelSupervisor } from './tunnel-supervisor.js';
import { agentVersion } from './version.js';

const USAGE = `tunnel-ingress: publish services through an outbound Cloudflare tunnel

Tunnel:
  --credentials-file FILE   cloudflared credentials file (or TUNNEL_CRED_FILE)
  --token TOKEN             tunnel token (or TUNNEL_TOKEN)
  --edge HOST:PORT          edge address, repeatable (or TUNNEL_EDGE, comma-separated)
  --cacert FILE             trust only this CA for the edge (or TUNNEL_CACERT)
  --no-tls-verify           do not verify the edge's certificate (logs a warning)
  --protocol P              quic, http2 or auto (default auto: QUIC, falling back to HTTP/2)
  --ha-connections N        tunnel connections to keep (default 4)
  --grace-period DURATION   how long in-flight requests may finish on SIGTERM (default 30s)

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
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'credentials-file': { type: 'string' },
      'cred-file': { type: 'string' },
      token: { type: 'string' },
      edge: { type: 'string', multiple: true },
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
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
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
  const tunnelHostname = `${config.credentials.tunnelId}.cfargotunnel.com`;

  let controller: IngressController | null = null;
  let leader: LeaderElector | null = null;
  let resolve = config.url === undefined ? null : staticResolver(config.url);
  let supervisor: TunnelSupervisor | null = null;
  if (resolve === null) {
    // Kubernetes support is loaded only when used: a static (--url) agent stays small.
    const [
      { CoordinationV1Api, CoreV1Api },
      { EventRecorder },
      { IngressController },
      { LeaderElector },
      { loadKubeConfig },
    ] = await Promise.all([
      import('@kubernetes/client-node'),
      import('./controller/event-recorder.js'),
      import('./controller/ingress-controller.js'),
      import('./controller/leader-election.js'),
      import('./kube/kube-config.js'),
    ]);
    const { kc, source } = loadKubeConfig(config.kube.kubeconfig);
    const identity = `${process.env.POD_NAME ?? os.hostname()}_${connectorId.slice(0, 8)}`;
    leader = new LeaderElector({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: config.kube.leaderElectionNamespace,
      name: config.kube.leaderElectionId,
      identity,
      log,
    });
    const ctl = new IngressController({
      kc,
      namespace: config.kube.watchNamespace,
      classPolicy: {
        className: config.kube.ingressClass,
        watchWithoutClass: config.kube.watchIngressWithoutClass,
      },
      log,
      leader,
      events: new EventRecorder(kc.makeApiClient(CoreV1Api), identity, log),
      tunnelHostname,
      tunnelLive: () => (supervisor?.readyConnections ?? 0) > 0,
      metrics,
    });
    controller = ctl;
    resolve = routeResolver(() => ctl.table);
    log.info(
      {
        kubeconfig: source,
        ingressClass: config.kube.ingressClass,
        namespace: config.kube.watchNamespace ?? '(all)',
        identity,
      },
      'Kubernetes mode',
    );
  }
  const proxy = new OriginProxy({
    resolve,
    connectorId,
    log,
    metrics,
    requests,
    accessLog: config.accessLog,
  });
  const sup = new TunnelSupervisor({
    credentials: config.credentials,
    edges: config.edges,
    ca: config.ca,
    insecureSkipVerify: config.insecureSkipVerify,
    haConnections: config.haConnections,
    connectorId,
    version: agentVersion(),
    log,
    protocol: config.protocol,
    onRequest(req) {
      if (req.kind !== 'http') {
        // Websocket and TCP streams arrive with the origin-proxying work; refuse them cleanly until then.
        req.responder.fail(req.stream, 'websocket and TCP streams are not supported yet');
        return;
      }
      proxy.handle(req);
    },
  });
  supervisor = sup;
  let wasLive = false;
  sup.on('failure', (code) => metrics.registrationFailures.inc({ code }));
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
  });
  const adminAddress = await admin.listen();
  log.info(
    {
      connectorId,
      tunnelId: config.credentials.tunnelId,
      metrics: `${adminAddress.host}:${adminAddress.port}`,
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
      .then(() => Promise.all([leader?.stop(), controller?.stop(), proxy.close(), admin.close()]))
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
