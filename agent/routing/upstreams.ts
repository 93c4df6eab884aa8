import type http2 from 'node:http2';
import {
  MAGLEV_SIZE,
  ROUND_ROBIN,
  describePolicy,
  hashKey,
  keyHash,
  maglevTable,
  type Policy,
} from './load-balancer.js';
import type { EndpointSlice } from './types.js';

export interface Endpoint {
  /** http://ip:port, the undici origin */
  origin: string;
  /** https://ip:port, for Ingresses with backend-protocol HTTPS */
  tlsOrigin: string;
  address: string;
  port: number;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Passive health: consecutive connect failures before an endpoint is ejected, and for how long. */
export const EJECT_AFTER_FAILURES = 5;
export const EJECT_BASE_MS = 30_000;

interface Health {
  failures: number;
  ejections: number;
  ejectedUntil: number;
}

/**
 * Upstreams are a Service port's ready endpoints. They outlive route tables: a table refers to an
 * upstream by identity, and an EndpointSlice change swaps that upstream's endpoint list in one
 * assignment without rebuilding any table.
 */
export class Upstream {
  endpoints: readonly Endpoint[] = [];
  private rr = 0;
  /** by origin; only endpoints that failed have an entry */
  private readonly health = new Map<string, Health>();
  policy: Policy = ROUND_ROBIN;
  /** Maglev's table over `endpoints`, for hash policies */
  private maglev: Int32Array | null = null;
  /** requests in flight per origin, for least-request */
  private readonly load = new Map<string, number>();

  /** Set from the Service's annotation at compile time; a hash policy builds its table now. */
  setPolicy(p: Policy): void {
    if (describePolicy(p) === describePolicy(this.policy)) return;
    this.policy = p;
    this.rebuild();
  }

  get tracksLoad(): boolean {
    return this.policy.kind === 'least-request';
  }

  acquire(origin: string): void {
    this.load.set(origin, (this.load.get(origin) ?? 0) + 1);
  }

  release(origin: string): void {
    const n = (this.load.get(origin) ?? 0) - 1;
    if (n <= 0) this.load.delete(origin);
    else this.load.set(origin, n);
  }

  private rebuild(): void {
    this.maglev = this.policy.kind === 'hash' ? maglevTable(this.endpoints.map((e) => e.origin)) : null;
  }

  /** The endpoint for a request under this Service's policy (see load-balancer.ts). */
  pick(headers?: http2.IncomingHttpHeaders, now = Date.now()): Endpoint | null {
    const p = this.policy;
    if (p.kind === 'round-robin') return this.next(undefined, now);
    const eps = this.endpoints;
    if (eps.length === 0) return null;
    if (p.kind === 'hash') {
      const key = hashKey(p, headers);
      const table = this.maglev;
      if (key !== undefined && table !== null) {
        const ep = eps[table[keyHash(key) % MAGLEV_SIZE] as number];
        if (ep !== undefined && !this.isEjected(ep.origin, now)) return ep;
      }
      return this.next(undefined, now);
    }
    // least-request: the power of two choices among endpoints not ejected
    const a = this.next(undefined, now);
    if (a === null || eps.length === 1) return a;
    const b = eps[Math.floor(Math.random() * eps.length)] as Endpoint;
    if (b === a || this.isEjected(b.origin, now)) return a;
    return (this.load.get(b.origin) ?? 0) < (this.load.get(a.origin) ?? 0) ? b : a;
  }

  private isEjected(origin: string, now: number): boolean {
    if (this.health.size === 0) return false;
    const h = this.health.get(origin);
    return h !== undefined && h.ejectedUntil > now;
  }

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

  /**
   * Round-robin over the ready endpoints, skipping ejected ones (unless every one is: then ejection is
   * ignored, never all of them out) and, for a retry, those already tried. Null when none is left.
   */
  next(exclude?: ReadonlySet<string>, now = Date.now()): Endpoint | null {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return null;
    const start = this.rr++;
    if (this.rr > 1e9) this.rr = 0;
    let fallback: Endpoint | null = null;
    for (let k = 0; k < n; k++) {
      const ep = eps[(start + k) % n] as Endpoint;
      if (exclude !== undefined && exclude.has(ep.origin)) continue;
      if (this.isEjected(ep.origin, now)) {
        fallback ??= ep;
        continue;
      }
      return ep;
    }
    return fallback;
  }

  /** Swaps the endpoint list in one assignment; health is kept only for endpoints still there. */
  setEndpoints(eps: readonly Endpoint[]): void {
    this.endpoints = eps;
    if (this.policy.kind === 'hash') this.rebuild();
    if (this.health.size === 0) return;
    const live = new Set(eps.map((e) => e.origin));
    for (const origin of this.health.keys()) if (!live.has(origin)) this.health.delete(origin);
  }

  /** A connect to this endpoint failed: after 5 in a row it is ejected for 30 s, doubling each time. */
  connectFailed(origin: string, now = Date.now()): void {
    let h = this.health.get(origin);
    if (h === undefined) {
      h = { failures: 0, ejections: 0, ejectedUntil: 0 };
      this.health.set(origin, h);
    }
    h.failures++;
    if (h.failures >= EJECT_AFTER_FAILURES) {
      h.ejectedUntil = now + EJECT_BASE_MS * 2 ** Math.min(h.ejections, 6);
      h.ejections++;
      h.failures = 0;
    }
  }

  /** A connect succeeded: the failure count starts over (ejections keep counting toward the doubling). */
  connected(origin: string): void {
    const h = this.health.get(origin);
    if (h !== undefined) h.failures = 0;
  }

  /** Ejected endpoints now, for /debug/routes and the dashboard. */
  ejected(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [origin, h] of this.health) if (h.ejectedUntil > now) out.push(origin);
    return out;
  }
}

/** Ready endpoints for one port name across a Service's slices: ready, serving and not terminating. */
/** Whether a slice's endpoint takes traffic: not unready, unserving or terminating (absent counts as yes). */
export function takesTraffic(ep: NonNullable<EndpointSlice['endpoints']>[number]): boolean {
  const c = ep.conditions ?? {};
  return c.ready !== false && c.serving !== false && c.terminating !== true;
}

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
      if (!takesTraffic(ep)) continue;
      const address = ep.addresses?.[0];
      if (address === undefined) continue;
      const host = address.includes(':') ? `[${address}]` : address;
      const origin = `http://${host}:${port.port}`;
      if (seen.has(origin)) continue;
      seen.add(origin);
      out.push({ origin, tlsOrigin: `https://${host}:${port.port}`, address, port: port.port });
    }
  }
  return out;
}

/** A Service port's upstream as a route table wants it: which one, and with which policy. */
export interface UpstreamSpec {
  key: string;
  upstream: Upstream;
  policy: Policy;
}

/** `namespace/service:portName`: an upstream's identity. */
export function upstreamKey(namespace: string, service: string, portName: string): string {
  return `${namespace}/${service}:${portName}`;
}

/**
 * The upstreams the route table in use refers to, by Service port and by Service (an EndpointSlice
 * change refreshes every port of its Service).
 */
export class UpstreamRegistry {
  private readonly byKey = new Map<string, Upstream>();
  private readonly byService = new Map<string, Set<Upstream>>();

  /** The upstream in use for `upstreamKey(…)`, if any. */
  readonly existing = (key: string): Upstream | undefined => this.byKey.get(key);

  /**
   * Makes a compiled table's upstreams the ones in use: new ones registered with the endpoints
   * known now, every policy set, and the upstreams no route uses any more forgotten. Called just
   * before the table is swapped in.
   */
  apply(
    specs: ReadonlyMap<string, UpstreamSpec>,
    slices: (namespace: string, service: string) => readonly EndpointSlice[],
  ): void {
    for (const { key, upstream: u, policy } of specs.values()) {
      if (this.byKey.get(key) !== u) {
        u.setEndpoints(readyEndpoints(slices(u.namespace, u.service), u.portName));
        this.byKey.set(key, u);
        const svcKey = `${u.namespace}/${u.service}`;
        let set = this.byService.get(svcKey);
        if (set === undefined) this.byService.set(svcKey, (set = new Set()));
        set.add(u);
      }
      u.setPolicy(policy);
    }
    for (const [key, u] of this.byKey) {
      if (specs.get(key)?.upstream === u) continue;
      this.byKey.delete(key);
      this.byService.get(`${u.namespace}/${u.service}`)?.delete(u);
    }
  }

  /** Recomputes the endpoints of every upstream of one Service from its current slices. */
  refresh(namespace: string, service: string, slices: readonly EndpointSlice[]): void {
    for (const u of this.byService.get(`${namespace}/${service}`) ?? [])
      u.setEndpoints(readyEndpoints(slices, u.portName));
  }

  all(): Upstream[] {
    return [...this.byKey.values()];
  }
}
