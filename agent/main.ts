import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { META_CLOUDFLARED, RESPONSE_META } from '../tunnel/header-packing.js';
import { AdminServer } from './admin-server.js';
import { buildConfig } from './config.js';
import { createLogger } from './log.js';
import { OriginProxy } from './origin-proxy.js';
import { TunnelSupervisor } from './tunnel-supervisor.js';
import { agentVersion } from './version.js';

const USAGE = `tunnel-ingress: publish services through an outbound Cloudflare tunnel

  --credentials-file FILE   cloudflared credentials file (or TUNNEL_CRED_FILE)
  --token TOKEN             tunnel token (or TUNNEL_TOKEN)
  --edge HOST:PORT          edge address, repeatable (or TUNNEL_EDGE, comma-separated)
  --cacert FILE             trust only this CA for the edge (or TUNNEL_CACERT)
  --no-tls-verify           do not verify the edge's certificate (logs a warning)
  --protocol http2          tunnel transport (default http2)
  --ha-connections N        tunnel connections to keep (default 4)
  --url URL                 the origin every request goes to, e.g. http://127.0.0.1:8080
  --metrics HOST:PORT       admin endpoints /ready and /healthz (default 127.0.0.1:0)
  --grace-period DURATION   how long in-flight requests may finish on SIGTERM (default 30s)
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  --log-pretty              human-readable logs
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
      metrics: { type: 'string' },
      'grace-period': { type: 'string' },
      'log-level': { type: 'string' },
      'log-pretty': { type: 'boolean' },
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
  const proxy = new OriginProxy({ origin: config.url, connectorId, log });
  const supervisor = new TunnelSupervisor({
    credentials: config.credentials,
    edges: config.edges,
    ca: config.ca,
    insecureSkipVerify: config.insecureSkipVerify,
    haConnections: config.haConnections,
    connectorId,
    version: agentVersion(),
    log,
    onStream(stream, headers, kind) {
      if (kind !== 'http') {
        // Websocket and TCP streams arrive with the origin-proxying work; refuse them cleanly until then.
        stream.respond({ ':status': 502, [RESPONSE_META]: META_CLOUDFLARED }, { endStream: true });
        return;
      }
      proxy.handle(stream, headers);
    },
  });
  const admin = new AdminServer(config.metrics, {
    connectorId,
    readyConnections: () => supervisor.readyConnections,
  });
  const adminAddress = await admin.listen();
  log.info(
    {
      connectorId,
      tunnelId: config.credentials.tunnelId,
      metrics: `${adminAddress.host}:${adminAddress.port}`,
      origin: config.url.origin,
    },
    'tunnel-ingress starting',
  );
  supervisor.start();

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    log.info({ signal, gracePeriodMs: config.gracePeriodMs }, 'shutting down: unregistering and draining');
    supervisor
      .shutdown(config.gracePeriodMs)
      .then(() => Promise.all([proxy.close(), admin.close()]))
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
