import type { EndpointSlice } from './routing/types.js';

/**
 * Upstreams are a Service port's ready endpoints. They outlive route tables: a table refers to an
 * upstream by identity, and an EndpointSlice change swaps that upstream's endpoint list in one
 * assignment without rebuilding any table.
 */
export interface Endpoint {
  /** http://ip:port, the undici origin */
  origin: string;
  address: string;
  port: number;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class Upstream {
  endpoints: readonly Endpoint[] = [];
  private rr = 0;

  constructor(
    readonly namespace: string,
    readonly service: string,
    /** the Service port's name ('' when unnamed), which is also the EndpointSlice port's name */
    readonly portName: string,
    /** the Service port, for display */
    readonly servicePort: number,
  ) {}

  get key(): string {
    return `${this.namespace}/${this.service}:${this.portName}`;
  }

  /** Round-robin over the ready endpoints; null when there are none. */
  next(): Endpoint | null {
    const eps = this.endpoints;
    if (eps.length === 0) return null;
    const i = this.rr++ % eps.length;
    if (this.rr > 1e9) this.rr = 0;
    return eps[i] as Endpoint;
  }
}

/** Ready endpoints for one port name across a Service's slices: ready, serving and not terminating. */
export function readyEndpoints(slices: readonly EndpointSlice[], portName: string): Endpoint[] {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6')
      continue;
    const port = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP',
    );
    if (port?.port === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      const c = ep.conditions ?? {};
      if (c.ready === false || c.serving === false || c.terminating === true) continue;
      const address = ep.addresses?.[0];
      if (address === undefined) continue;
      const host = address.includes(':') ? `[${address}]` : address;
      const origin = `http://${host}:${port.port}`;
      if (seen.has(origin)) continue;
      seen.add(origin);
      out.push({ origin, address, port: port.port });
    }
  }
  return out;
}

export class UpstreamRegistry {
  private readonly byKey = new Map<string, Upstream>();
  private readonly byService = new Map<string, Set<Upstream>>();

  /** The upstream for a Service port, created on first use with the endpoints known now. */
  get(
    namespace: string,
    service: string,
    portName: string,
    servicePort: number,
    slices: () => readonly EndpointSlice[],
  ): Upstream {
    const key = `${namespace}/${service}:${portName}`;
    let u = this.byKey.get(key);
    if (u === undefined) {
      u = new Upstream(namespace, service, portName, servicePort);
      u.endpoints = readyEndpoints(slices(), portName);
      this.byKey.set(key, u);
      const svcKey = `${namespace}/${service}`;
      let set = this.byService.get(svcKey);
      if (set === undefined) this.byService.set(svcKey, (set = new Set()));
      set.add(u);
    }
    return u;
  }

  /** Recomputes the endpoints of every upstream of one Service from its current slices. */
  refresh(namespace: string, service: string, slices: readonly EndpointSlice[]): void {
    for (const u of this.byService.get(`${namespace}/${service}`) ?? [])
      u.endpoints = readyEndpoints(slices, u.portName);
  }

  /** Forgets upstreams no route uses any more. */
  retain(used: ReadonlySet<Upstream>): void {
    for (const [key, u] of this.byKey) {
      if (used.has(u)) continue;
      this.byKey.delete(key);
      this.byService.get(`${u.namespace}/${u.service}`)?.delete(u);
    }
  }

  all(): Upstream[] {
    return [...this.byKey.values()];
  }
}
