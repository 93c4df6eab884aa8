import pino from 'pino';
import { parseHostPort, type HostPort } from '../common/net.js';
import { parseCli } from '../common/cli.js';
import { startEdgeSim } from './edge-sim.js';

const USAGE = `edge-sim: a local stand-in for Cloudflare's tunnel edge

  --state-dir DIR            CA, server certificate and tunnels live here (default .edge-sim)
  --create-tunnel NAME       create a tunnel if missing; writes DIR/tunnels/NAME.json and NAME.token (repeatable)
  --tunnel-listen HOST:PORT  where connectors dial in (default 127.0.0.1:7844)
  --public-listen HOST:PORT  visitors' listener: HTTP/1.1, and HTTP/2 with prior knowledge (h2c)
  --api-listen HOST:PORT     /_edge admin endpoints, and the Cloudflare API under /client/v4
  --api-token TOKEN          a Cloudflare API token edge-sim accepts, for its account; ACCOUNT:TOKEN binds
                             it to another account (repeatable; with none, /client/v4 is off)
  --zone NAME                a DNS zone served by the API; visitors are routed by its records (repeatable)
  --api-rate-limit N         API requests per 5 minutes per token, then 429 (default 1200; 0: none)
  --route HOST=TUNNEL        send visitors of HOST to TUNNEL (name or id) (repeatable)
  --location CODE            location name reported to connectors and in Cf-Ray (default SIM)
  --no-quic                  do not serve QUIC (UDP) on the tunnel port, as where UDP is blocked
  --no-http2                 do not serve HTTP/2 (TCP) on the tunnel port, as where only UDP gets through
  --no-quic-trailers         do not offer the QUIC trailers extension (docs/protocol.md), as Cloudflare's
                             edge does not: gRPC then needs the HTTP/2 transport
  --cache-size SIZE          the edge cache's memory (bytes, or with k/m/g; default 64m); LRU eviction past it
  --no-cache                 no edge cache: every answer comes from the origin, without CF-Cache-Status
  --cache-everything HOST    every GET for HOST is eligible for the cache, as a "Cache Everything" rule (repeatable)
  --region-listen NAME=HOST:PORT  another tunnel listener: a second region whose location is NAME (repeatable)
  --log-level LEVEL          pino level (default info)
  --version                 print the version
  -h, --help                this text
`;

/** A size in bytes, or with a k, m or g suffix (powers of 1,024). */
function parseSize(value: string, flag: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(value.trim());
  if (m === null) throw new Error(`${flag} wants a size such as 64m, got "${value}"`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] as string).toLowerCase()] as number;
  return Number(m[1]) * unit;
}

async function main(): Promise<void> {
  const values = parseCli('edge-sim', USAGE, {
    'state-dir': { type: 'string', default: '.edge-sim' },
    'create-tunnel': { type: 'string', multiple: true, default: [] },
    'tunnel-listen': { type: 'string', default: '127.0.0.1:7844' },
    'public-listen': { type: 'string' },
    'api-listen': { type: 'string' },
    route: { type: 'string', multiple: true, default: [] },
    location: { type: 'string', default: 'SIM' },
    'api-token': { type: 'string', multiple: true, default: [] },
    zone: { type: 'string', multiple: true, default: [] },
    'api-rate-limit': { type: 'string', default: '1200' },
    'no-quic': { type: 'boolean' },
    'no-http2': { type: 'boolean' },
    'no-quic-trailers': { type: 'boolean' },
    'region-listen': { type: 'string', multiple: true, default: [] },
    'cache-size': { type: 'string', default: '64m' },
    'no-cache': { type: 'boolean' },
    'cache-everything': { type: 'string', multiple: true, default: [] },
    'log-level': { type: 'string', default: 'info' },
  });
  if (values === null) return;
  const log = pino({ name: 'edge-sim', level: values['log-level'] });
  const sim = await startEdgeSim({
    stateDir: values['state-dir'],
    tunnelListen: parseHostPort(values['tunnel-listen'], '--tunnel-listen', true),
    publicListen:
      values['public-listen'] === undefined
        ? undefined
        : parseHostPort(values['public-listen'], '--public-listen', true),
    apiListen:
      values['api-listen'] === undefined
        ? undefined
        : parseHostPort(values['api-listen'], '--api-listen', true),
    createTunnels: values['create-tunnel'],
    routes: values.route,
    location: values.location,
    apiTokens: values['api-token'],
    zones: values.zone,
    apiRateLimit: Number(values['api-rate-limit']),
    quic: values['no-quic'] !== true,
    http2: values['no-http2'] !== true,
    quicTrailers: values['no-quic-trailers'] !== true,
    cacheBytes: values['no-cache'] === true ? 0 : parseSize(values['cache-size'], '--cache-size'),
    cacheEverything: values['cache-everything'],
    regions: values['region-listen'].map((spec) => {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new Error(`--region-listen wants NAME=HOST:PORT, got "${spec}"`);
      return { name: spec.slice(0, eq), ...parseHostPort(spec.slice(eq + 1), '--region-listen', true) };
    }),
    log,
  });
  const fmt = (a?: HostPort) => (a === undefined ? undefined : `${a.host}:${a.port}`);
  log.info(
    {
      tunnel: fmt(sim.addresses.tunnel),
      public: fmt(sim.addresses.public),
      api: fmt(sim.addresses.api),
      regions: Object.fromEntries(Object.entries(sim.addresses.regions).map(([k, v]) => [k, fmt(v)])),
      stateDir: values['state-dir'],
    },
    'edge-sim listening',
  );
  const stop = () => {
    log.info('edge-sim stopping');
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`edge-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
