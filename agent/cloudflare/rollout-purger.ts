import type { Logger } from 'pino';
import type { AgentMetrics } from '../observability/metrics.js';
import type { EndpointSlice, Ingress } from '../routing/types.js';
import { keyOf } from '../routing/types.js';
import { takesTraffic } from '../routing/upstreams.js';
import type { CloudflareClient, ZoneInfo } from './cloudflare-client.js';
import { zoneFor } from './dns-plan.js';

/** `"true"`: purge the edge cache for the Ingress's hosts when a Service behind it has rolled out. */
export const PURGE_ON_ROLLOUT = 'tunnel-ingress.dev/purge-on-rollout';
/** Comma-separated `host/path` prefixes to purge instead of the hosts. */
export const PURGE_PREFIXES = 'tunnel-ingress.dev/purge-prefixes';
/** Comma-separated Cache-Tag values to purge instead of the hosts. */
export const PURGE_TAGS = 'tunnel-ingress.dev/purge-tags';

/** Items one purge call may carry (Cloudflare's limit on every plan). */
const PER_CALL = 100;
const RETRY_MS = 30_000;

export interface RolloutPurgerOptions {
  client: CloudflareClient;
  isLeader(): boolean;
  /** the Ingresses the agent serves now */
  ingresses(): readonly Ingress[];
  /** a Service's EndpointSlices as cached now */
  slices(namespace: string, service: string): readonly EndpointSlice[];
  /** an Event on the Ingress (CachePurged, CachePurgeFailed) */
  event(ing: Ingress, type: 'Normal' | 'Warning', reason: string, message: string): void;
  log: Logger;
  metrics?: AgentMetrics;
}

/** What one Ingress asks to purge: its hosts, or the prefixes or tags its annotations list. */
interface Selector {
  field: 'hosts' | 'prefixes' | 'tags';
  items: string[];
}

/** An Ingress's hosts that name one host (wildcards cannot be purged by host). */
function concreteHosts(ing: Ingress): string[] {
  return [
    ...new Set(
      (ing.spec?.rules ?? []).map((r) => r.host ?? '').filter((h) => h !== '' && !h.startsWith('*')),
    ),
  ];
}

function selectorOf(ing: Ingress): Selector | null {
  const a = ing.metadata?.annotations ?? {};
  if (a[PURGE_ON_ROLLOUT] !== 'true') return null;
  const list = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const prefixes = list(a[PURGE_PREFIXES]);
  if (prefixes.length > 0) return { field: 'prefixes', items: prefixes };
  const tags = list(a[PURGE_TAGS]);
  if (tags.length > 0) return { field: 'tags', items: tags };
  const hosts = concreteHosts(ing);
  return hosts.length > 0 ? { field: 'hosts', items: hosts } : null;
}

/** The Services (in the Ingress's namespace) an Ingress sends to. */
function servicesOf(ing: Ingress): Set<string> {
  const out = new Set<string>();
  const add = (name: string | undefined) => {
    if (name !== undefined) out.add(name);
  };
  add(ing.spec?.defaultBackend?.service?.name);
  for (const r of ing.spec?.rules ?? []) for (const p of r.http?.paths ?? []) add(p.backend?.service?.name);
  return out;
}

/** A Service's ready endpoints, `address:port` for each TCP port, from its EndpointSlices. */
export function readyAddresses(slices: readonly EndpointSlice[]): string[] {
  const out = new Set<string>();
  for (const s of slices)
    for (const ep of s.endpoints ?? []) {
      if (!takesTraffic(ep)) continue;
      for (const address of ep.addresses ?? [])
        for (const p of s.ports ?? [])
          if ((p.protocol ?? 'TCP') === 'TCP') out.add(`${address}:${p.port ?? 0}`);
    }
  return [...out];
}

/**
 * Purges Cloudflare's edge cache when a Service behind an opted-in Ingress has rolled out: when none
 * of the ready endpoints seen at the last purge (or when the agent first saw the Service) is ready
 * any more, and some are. Every replica keeps the baselines; the leader alone calls the API, paced
 * with the DNS calls, once per rollout (a failure is retried in 30 s, with a Warning Event). Pods'
 * template hashes are not watched (the agent reads EndpointSlices, not Pods): a rollout is seen as
 * the set of endpoints being replaced.
 */
export class RolloutPurger {
  /** `NS/INGRESS|SERVICE` → the ready endpoints (ip:port) at the last purge or first sight */
  private readonly baselines = new Map<string, Set<string>>();
  private readonly inFlight = new Set<string>();
  private zones: ZoneInfo[] | null = null;

  constructor(private readonly opts: RolloutPurgerOptions) {}

  /**
   * After each route compile: a baseline for each opted-in Ingress's Services not seen yet (the ready
   * endpoints now), and none kept for what is no longer served or asked.
   */
  sync(): void {
    const live = new Set<string>();
    for (const ing of this.opts.ingresses()) {
      if (selectorOf(ing) === null) continue;
      const ns = ing.metadata?.namespace ?? 'default';
      for (const svc of servicesOf(ing)) {
        const key = `${keyOf(ing.metadata)}|${svc}`;
        live.add(key);
        if (!this.baselines.has(key))
          this.baselines.set(key, new Set(readyAddresses(this.opts.slices(ns, svc))));
      }
    }
    for (const key of this.baselines.keys()) if (!live.has(key)) this.baselines.delete(key);
  }

  /** A Service's ready endpoints changed. */
  endpoints(namespace: string, service: string, ready: readonly string[]): void {
    for (const ing of this.opts.ingresses()) {
      if ((ing.metadata?.namespace ?? 'default') !== namespace) continue;
      const selector = selectorOf(ing);
      if (selector === null || !servicesOf(ing).has(service)) continue;
      const key = `${keyOf(ing.metadata)}|${service}`;
      const base = this.baselines.get(key);
      if (base === undefined) {
        this.baselines.set(key, new Set(ready));
        continue;
      }
      // Some of the endpoints of the last purge are still ready (or none is ready): not rolled out.
      if (ready.length === 0 || ready.some((r) => base.has(r))) continue;
      if (!this.opts.isLeader()) {
        this.baselines.set(key, new Set(ready));
        continue;
      }
      void this.purge(ing, selector, key, `${namespace}/${service}`, ready);
    }
  }

  private async zoneOf(host: string): Promise<ZoneInfo | undefined> {
    const find = (zones: ZoneInfo[]) => {
      const name = zoneFor(
        host,
        zones.map((z) => z.name),
      );
      return zones.find((z) => z.name === name);
    };
    let z = this.zones === null ? undefined : find(this.zones);
    if (z === undefined) {
      this.zones = await this.opts.client.listZones();
      z = find(this.zones);
    }
    return z;
  }

  private async purge(
    ing: Ingress,
    selector: Selector,
    key: string,
    service: string,
    ready: readonly string[],
  ): Promise<void> {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    const { field, items: what } = selector;
    try {
      // By zone: hosts and prefixes by their own host; tags in every zone of the Ingress's hosts.
      const byZone = new Map<string, Set<string>>();
      const placed: Array<[host: string, items: readonly string[]]> =
        field === 'tags'
          ? concreteHosts(ing).map((h) => [h, what])
          : what.map((w) => [w.split('/')[0] as string, [w]]);
      for (const [host, items] of placed) {
        const zone = await this.zoneOf(host.toLowerCase());
        if (zone === undefined) continue;
        const set = byZone.get(zone.id) ?? new Set<string>();
        for (const item of items) set.add(item);
        byZone.set(zone.id, set);
      }
      const hosts = placed.map(([h]) => h);
      if (byZone.size === 0) throw new Error(`no zone of the account holds ${hosts.join(', ')}`);
      for (const [zoneId, set] of byZone) {
        const items = [...set];
        for (let i = 0; i < items.length; i += PER_CALL)
          await this.opts.client.purgeCache(zoneId, { [field]: items.slice(i, i + PER_CALL) } as never);
      }
      this.baselines.set(key, new Set(ready));
      this.opts.metrics?.cachePurges.inc({ result: 'ok' });
      this.opts.log.info(
        { ingress: keyOf(ing.metadata), service, [field]: what },
        'edge cache purged after a rollout',
      );
      this.opts.event(
        ing,
        'Normal',
        'CachePurged',
        `Service ${service} rolled out (${ready.length} new ready endpoints): purged the edge cache for ${field} ${what.join(', ')}`,
      );
    } catch (err) {
      this.opts.metrics?.cachePurges.inc({ result: 'error' });
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log.warn({ ingress: keyOf(ing.metadata), service, err: message }, 'edge cache purge failed');
      this.opts.event(
        ing,
        'Warning',
        'CachePurgeFailed',
        `purging the edge cache after ${service} rolled out failed: ${message}; retrying in 30s`,
      );
      setTimeout(() => {
        this.inFlight.delete(key);
        if (this.opts.isLeader()) void this.purge(ing, selector, key, service, ready);
      }, RETRY_MS).unref();
      return;
    }
    this.inFlight.delete(key);
  }
}
