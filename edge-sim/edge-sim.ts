import type { Logger } from 'pino';
import type { HostPort } from '../common/net.js';
import { AdminApi } from './admin-api.js';
import { ConnectionRegistry } from './connection-registry.js';
import { loadOrCreatePki } from '../common/pki.js';
import { PublicListener, type RouteResolver } from './public-listener.js';
import { TunnelListener } from './tunnel-listener.js';
import { TunnelStore } from './tunnel-store.js';
import { CloudflareApi, parseApiToken } from './cloudflare-api/cloudflare-api.js';
import { DnsStore, closestName } from './cloudflare-api/dns-store.js';
import { CacheFront } from './cache/cache-front.js';
import { EdgeCache } from './cache/edge-cache.js';

/** The edge cache's default size: objects past it are evicted least recently used first. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** Starts every edge-sim listener; used by the CLI, the demo and the tests. */
export interface EdgeSimOptions {
  stateDir: string;
  tunnelListen: HostPort;
  publicListen?: HostPort;
  apiListen?: HostPort;
  createTunnels?: string[];
  /** HOST=TUNNEL (name or id) */
  routes?: string[];
  location?: string;
  accountTag?: string;
  /** serve QUIC on UDP beside TCP (default true) */
  quic?: boolean;
  /** serve HTTP/2 on TCP (default true) */
  http2?: boolean;
  /** offer the QUIC trailers extension to connectors that ask (default true) */
  quicTrailers?: boolean;
  /** Cloudflare API tokens (TOKEN or ACCOUNT:TOKEN); with none, /client/v4 is not served */
  apiTokens?: string[];
  /** DNS zones the API serves and visitors are routed by */
  zones?: string[];
  /** API requests per five minutes per token (default 1,200; 0: no limit) */
  apiRateLimit?: number;
  /** the edge cache's size in bytes (default 64 MiB); 0 turns the cache off */
  cacheBytes?: number;
  /** hosts whose every GET is eligible for the cache (a "Cache Everything" rule) */
  cacheEverything?: string[];
  /** more tunnel listeners, each a region with its own location name (NAME=HOST:PORT) */
  regions?: Array<{ name: string } & HostPort>;
  log: Logger;
}

export interface EdgeSim {
  store: TunnelStore;
  dns: DnsStore;
  cloudflare?: CloudflareApi;
  registry: ConnectionRegistry;
  /** null with the cache off */
  cache: EdgeCache | null;
  addresses: { tunnel: HostPort; public?: HostPort; api?: HostPort; regions: Record<string, HostPort> };
  close(): Promise<void>;
}

/** `*` may stand only for a whole first label, as in a DNS wildcard record (`*.example.com`). */
const ROUTE_HOST = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function parseRoute(spec: string): { host: string; tunnel: string } {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new Error(`--route wants HOST=TUNNEL, got "${spec}"`);
  const host = spec.slice(0, eq).trim().toLowerCase();
  if (!ROUTE_HOST.test(host))
    throw new Error(
      `--route ${spec}: "${host}" is not a host name (a wildcard is "*." followed by a name, as in *.example.com)`,
    );
  return { host, tunnel: spec.slice(eq + 1).trim() };
}

export async function startEdgeSim(opts: EdgeSimOptions): Promise<EdgeSim> {
  const location = opts.location ?? 'SIM';
  const pki = await loadOrCreatePki(opts.stateDir);
  const store = await TunnelStore.open(opts.stateDir, opts.accountTag);
  for (const name of opts.createTunnels ?? []) {
    const t = await store.create(name);
    opts.log.info({ tunnel: t.name, tunnelId: t.id }, 'tunnel ready');
  }
  const routeTable = new Map<string, string>();
  for (const spec of opts.routes ?? []) {
    const { host, tunnel } = parseRoute(spec);
    const t = store.find(tunnel);
    if (t === undefined) throw new Error(`--route ${spec}: no tunnel named or with id "${tunnel}"`);
    routeTable.set(host, t.id);
  }
  const dns = DnsStore.open(opts.stateDir, opts.zones ?? [], store.accountTag);
  // --route first (quick tests), then DNS: a proxied CNAME to <tunnel-id>.cfargotunnel.com.
  const routes: RouteResolver = {
    tunnelFor: (host) => {
      const id = closestName(routeTable, host) ?? dns.tunnelFor(host);
      if (id === undefined) return undefined;
      const t = store.byId(id);
      return t === undefined || t.deletedAt !== null ? undefined : t.id;
    },
  };
  const registry = new ConnectionRegistry();
  const cacheBytes = opts.cacheBytes ?? DEFAULT_CACHE_BYTES;
  const cache = cacheBytes > 0 ? new EdgeCache(cacheBytes) : null;
  const cloudflare =
    (opts.apiTokens ?? []).length === 0
      ? undefined
      : new CloudflareApi({
          tokens: (opts.apiTokens ?? []).map((t) => parseApiToken(t, store.accountTag)),
          store,
          dns,
          registry,
          log: opts.log,
          rateLimit: opts.apiRateLimit,
          cache,
        });
  const tunnelListener = new TunnelListener({
    ...opts.tunnelListen,
    location,
    pki,
    store,
    registry,
    log: opts.log,
    quic: opts.quic !== false,
    http2: opts.http2 !== false,
    quicTrailers: opts.quicTrailers !== false,
  });
  const closers: Array<() => Promise<void>> = [];
  const addresses: EdgeSim['addresses'] = { tunnel: await tunnelListener.listen(), regions: {} };
  for (const region of opts.regions ?? []) {
    const l = new TunnelListener({
      host: region.host,
      port: region.port,
      location: region.name,
      pki,
      store,
      registry,
      log: opts.log,
      quic: opts.quic !== false,
      http2: opts.http2 !== false,
      quicTrailers: opts.quicTrailers !== false,
    });
    addresses.regions[region.name] = await l.listen();
    closers.push(() => l.close());
  }
  closers.push(() => tunnelListener.close());
  if (opts.publicListen !== undefined) {
    const everything = new Set((opts.cacheEverything ?? []).map((h) => h.toLowerCase()));
    const pub = new PublicListener({
      ...opts.publicListen,
      location,
      routes,
      registry,
      log: opts.log,
      cache:
        cache === null
          ? undefined
          : {
              front: new CacheFront(cache, (conn) => registry.release(conn), opts.log),
              everything: (host) => everything.has(host),
            },
    });
    addresses.public = await pub.listen();
    closers.push(() => pub.close());
  }
  if (opts.apiListen !== undefined) {
    const api = new AdminApi({ ...opts.apiListen, store, registry, cloudflare });
    addresses.api = await api.listen();
    closers.push(() => api.close());
  }
  return {
    store,
    dns,
    cloudflare,
    registry,
    cache,
    addresses,
    close: async () => {
      await Promise.all(closers.map((c) => c()));
    },
  };
}
