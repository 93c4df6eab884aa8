import type { TunnelStore } from '../tunnel-store.js';
import type { DnsStore } from './dns-store.js';
import { ApiError } from './envelope.js';
import type { Reply } from './tunnels-api.js';

/**
 * The legacy hostname route behind `cloudflared tunnel route dns` (not in the OpenAPI; its shape is in
 * ../shared/cloudflare-api/README.md): `PUT /zones/:zone/tunnels/:id/routes` with
 * `{"type":"dns","user_hostname","overwrite_existing"}` makes the proxied CNAME
 * `<hostname> → <tunnel-id>.cfargotunnel.com` in the zone. A hostname outside the zone gets the zone's
 * name appended (`app` → `app.<zone>`, as Cloudflare does); an existing A, AAAA or CNAME of that name
 * is error 1003 unless `overwrite_existing`. Load-balancer routes (`"type":"lb"`) are not simulated.
 */
export class HostnameRoutes {
  constructor(
    private readonly dns: DnsStore,
    private readonly tunnels: TunnelStore,
  ) {}

  put(account: string, zoneId: string, tunnelId: string, body: Record<string, unknown>): Reply {
    const zone = this.dns.zone(zoneId);
    if (zone.accountId !== account) throw new ApiError(403, 10000, 'Authentication error');
    const tunnel = this.tunnels.byId(tunnelId);
    if (tunnel === undefined || tunnel.accountTag !== account || tunnel.deletedAt !== null)
      throw new ApiError(404, 1002, 'Tunnel not found');
    if (body.type === 'lb')
      throw new ApiError(400, 1001, 'Load balancer routes are not simulated by edge-sim; use type "dns"');
    if (body.type !== 'dns') throw new ApiError(400, 1001, 'type must be "dns" or "lb"');
    const raw = body.user_hostname;
    if (typeof raw !== 'string' || raw.trim() === '')
      throw new ApiError(400, 1001, 'user_hostname is required');
    const host = raw.trim().toLowerCase().replace(/\.$/, '');
    const name = host === zone.name || host.endsWith(`.${zone.name}`) ? host : `${host}.${zone.name}`;
    const target = `${tunnel.id}.cfargotunnel.com`;
    const same = this.dns
      .list(zone)
      .filter((r) => r.name === name && (r.type === 'A' || r.type === 'AAAA' || r.type === 'CNAME'));
    if (same.length === 1 && same[0]?.type === 'CNAME' && same[0].content === target && same[0].proxied)
      return { result: { cname: 'unchanged', name } };
    if (same.length > 0) {
      if (body.overwrite_existing !== true)
        throw new ApiError(400, 1003, 'An A, AAAA or CNAME record already exists with that host');
      for (const r of same) this.dns.delete(zone, r.id);
    }
    this.dns.create(zone, { type: 'CNAME', name, content: target, proxied: true, ttl: 1 });
    return { result: { cname: 'new', name } };
  }
}
