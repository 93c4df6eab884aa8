import type { RouteTable } from '../routing/route-table.js';
import type { Conflict } from './dns-plan.js';

/**
 * What DNS automation wants from the route table: host → the resource that asks for it
 * (`ingress/NS/NAME`, `httproute/NS/NAME`). Two Ingresses naming one host: the first by name owns the record, so the
 * answer does not depend on the order the cache lists them in.
 */
export function desiredHosts(table: RouteTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of table.entries) {
    if (e.host === '') continue;
    const resource = e.source;
    const prev = out.get(e.host);
    if (prev === undefined || resource < prev) out.set(e.host, resource);
  }
  return out;
}

/** The Event on the Ingress whose host is held by records the agent does not own. */
export function dnsConflictMessage(c: Conflict): string {
  return `DNS name ${c.host} is held by records this agent does not own (${c.held}); left alone`;
}

/** The Event on the Ingress whose host no zone of the account holds. */
export function dnsNoZoneMessage(host: string): string {
  return `no Cloudflare zone of this account holds ${host}; no DNS record made`;
}
