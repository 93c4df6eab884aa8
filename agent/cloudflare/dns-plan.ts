import { formatOwnership, hostOfOwnershipName, ownershipName, parseOwnership } from './dns-ownership.js';

/**
 * The pure part of DNS automation: from the names our Ingresses want and the records a zone holds now,
 * the changes to make and the names held by others. Changes are grouped per name and ordered so that an
 * interruption never leaves a record the agent made without the TXT that proves it made it: the TXT
 * is created before the CNAME and deleted after it.
 */
export interface ZoneRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  proxied?: boolean;
  ttl?: number;
}

export type DnsOp =
  | { op: 'create'; type: 'CNAME' | 'TXT'; name: string; content: string; proxied: boolean }
  | { op: 'update'; id: string; type: 'CNAME' | 'TXT'; name: string; content: string; proxied: boolean }
  | { op: 'delete'; id: string; type: string; name: string };

export interface NamePlan {
  host: string;
  /** the Ingress the name is for (ingress/NS/NAME), or null for a name being removed */
  resource: string | null;
  ops: DnsOp[];
}

export interface Conflict {
  host: string;
  resource: string;
  /** what holds the name, for the Event */
  held: string;
}

export interface PlanInput {
  zone: string;
  /** host → ingress/NS/NAME, for the hosts in this zone */
  desired: ReadonlyMap<string, string>;
  records: readonly ZoneRecord[];
  owner: string;
  /** `<tunnel-id>.cfargotunnel.com` */
  target: string;
  policy: 'sync' | 'upsert-only';
}

export interface ZonePlan {
  names: NamePlan[];
  conflicts: Conflict[];
}

function describe(r: ZoneRecord): string {
  if (r.type === 'TXT') {
    const o = parseOwnership(r.content);
    if (o !== null) return `TXT owned by "${o.owner}"`;
  }
  return `${r.type} ${r.content.length > 60 ? r.content.slice(0, 57) + '...' : r.content}`;
}

export function planZone(input: PlanInput): ZonePlan {
  const byName = new Map<string, ZoneRecord[]>();
  for (const r of input.records) {
    const name = r.name.toLowerCase();
    const list = byName.get(name);
    if (list === undefined) byName.set(name, [r]);
    else list.push(r);
  }
  const ours = (r: ZoneRecord) => r.type === 'TXT' && parseOwnership(r.content)?.owner === input.owner;
  const names: NamePlan[] = [];
  const conflicts: Conflict[] = [];

  for (const [host, resource] of [...input.desired].sort(([a], [b]) => a.localeCompare(b))) {
    const atHost = byName.get(host) ?? [];
    const atTxt = byName.get(ownershipName(host)) ?? [];
    const claim = atTxt.find(ours);
    const ownership = formatOwnership({ owner: input.owner, resource });
    const ops: DnsOp[] = [];
    if (claim === undefined) {
      const held = [...atHost, ...atTxt];
      if (held.length > 0) {
        conflicts.push({ host, resource, held: held.map(describe).join(', ') });
        continue;
      }
      ops.push({ op: 'create', type: 'TXT', name: ownershipName(host), content: ownership, proxied: false });
      ops.push({ op: 'create', type: 'CNAME', name: host, content: input.target, proxied: true });
    } else {
      const foreign = atHost.filter((r) => r.type !== 'CNAME');
      if (foreign.length > 0) {
        // Someone put other records on a name we hold: theirs stay, and no CNAME can join them.
        conflicts.push({ host, resource, held: foreign.map(describe).join(', ') });
        continue;
      }
      const cname = atHost.find((r) => r.type === 'CNAME');
      if (cname === undefined) {
        ops.push({ op: 'create', type: 'CNAME', name: host, content: input.target, proxied: true });
      } else if (cname.content.toLowerCase() !== input.target || cname.proxied !== true) {
        ops.push({
          op: 'update',
          id: cname.id,
          type: 'CNAME',
          name: host,
          content: input.target,
          proxied: true,
        });
      }
      if (claim.content !== ownership) {
        ops.push({
          op: 'update',
          id: claim.id,
          type: 'TXT',
          name: claim.name,
          content: ownership,
          proxied: false,
        });
      }
    }
    if (ops.length > 0) names.push({ host, resource, ops });
  }

  if (input.policy === 'sync') {
    for (const r of input.records) {
      if (!ours(r)) continue;
      const host = hostOfOwnershipName(r.name.toLowerCase());
      if (host === null || input.desired.has(host)) continue;
      const ops: DnsOp[] = (byName.get(host) ?? [])
        .filter((x) => x.type === 'CNAME')
        .map((x) => ({ op: 'delete' as const, id: x.id, type: x.type, name: x.name }));
      ops.push({ op: 'delete', id: r.id, type: 'TXT', name: r.name });
      names.push({ host, resource: null, ops });
    }
  }
  return { names, conflicts };
}

/** The zone a host belongs in: the longest zone name it ends with, or null. */
export function zoneFor(host: string, zones: readonly string[]): string | null {
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  let best: string | null = null;
  for (const z of zones) {
    if ((bare === z || bare.endsWith('.' + z)) && (best === null || z.length > best.length)) best = z;
  }
  return best;
}
