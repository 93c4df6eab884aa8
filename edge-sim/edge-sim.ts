import type { Logger } from 'pino';
import type { HostPort } from '../common/net.js';
import { AdminApi } from './admin-api.js';
import { ConnectionRegistry } from './connection-registry.js';
import { loadOrCreatePki } from '../common/pki.js';
import { PublicListener, type RouteResolver } from './public-listener.js';
import { TunnelListener } from './tunnel-listener.js';
import { TunnelStore } from './tunnel-store.js';

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
  /** more tunnel listeners, each a region with its own location name (NAME=HOST:PORT) */
  regions?: Array<{ name: string } & HostPort>;
  log: Logger;
}

export interface EdgeSim {
  store: TunnelStore;
  registry: ConnectionRegistry;
  addresses: { tunnel: HostPort; public?: HostPort; api?: HostPort; regions: Record<string, HostPort> };
  close(): Promise<void>;
}

export function parseRoute(spec: string): { host: string; tunnel: string } {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new Error(`--route wants HOST=TUNNEL, got "${spec}"`);
  return { host: spec.slice(0, eq).trim().toLowerCase(), tunnel: spec.slice(eq + 1).trim() };
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
  const routes: RouteResolver = { tunnelFor: (host) => routeTable.get(host) };
  const registry = new ConnectionRegistry();
  const tunnelListener = new TunnelListener({
    ...opts.tunnelListen,
    location,
    pki,
    store,
    registry,
    log: opts.log,
    quic: opts.quic !== false,
    http2: opts.http2 !== false,
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
    });
    addresses.regions[region.name] = await l.listen();
    closers.push(() => l.close());
  }
  closers.push(() => tunnelListener.close());
  if (opts.publicListen !== undefined) {
    const pub = new PublicListener({ ...opts.publicListen, location, routes, registry, log: opts.log });
    addresses.public = await pub.listen();
    closers.push(() => pub.close());
  }
  if (opts.apiListen !== undefined) {
    const api = new AdminApi({ ...opts.apiListen, store, registry });
    addresses.api = await api.listen();
    closers.push(() => api.close());
  }
  return {
    store,
    registry,
    addresses,
    close: async () => {
      await Promise.all(closers.map((c) => c()));
    },
  };
}
