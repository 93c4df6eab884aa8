import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from './envelope.js';

/**
 * Zones and their DNS records, as Cloudflare keeps them: record names are fully qualified and
 * lower-case, a CNAME excludes every other record of its name, and an identical record is refused.
 * Saved to STATE/dns.json on every change, so a restarted edge-sim still routes by the same records.
 */
export interface Zone {
  id: string;
  name: string;
  accountId: string;
  createdOn: string;
}

export interface DnsRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  proxiable: boolean;
  proxied: boolean;
  ttl: number;
  comment: string | null;
  tags: string[];
  meta: { auto_added: boolean; source: string };
  created_on: string;
  modified_on: string;
}

export interface RecordInput {
  type?: unknown;
  name?: unknown;
  content?: unknown;
  proxied?: unknown;
  ttl?: unknown;
  comment?: unknown;
  tags?: unknown;
}

const TYPES = new Set(['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'NS', 'CAA', 'SRV', 'PTR', 'HTTPS', 'SVCB']);
const PROXIABLE = new Set(['A', 'AAAA', 'CNAME']);
const HOSTNAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Zone ids are derived from the name, so a restarted edge-sim (and a test) sees the same ids. */
export function zoneId(name: string): string {
  return createHash('sha256').update(`zone:${name}`).digest('hex').slice(0, 32);
}

export class DnsStore {
  readonly zones = new Map<string, Zone>();
  private readonly records = new Map<string, DnsRecord>();
  /** by lower-case name: routing looks a visitor's host up on every request */
  private readonly byName = new Map<string, DnsRecord[]>();

  constructor(
    private readonly file: string | null,
    zoneNames: string[],
    accountId: string,
  ) {
    const now = new Date().toISOString();
    for (const raw of zoneNames) {
      const name = raw.toLowerCase().replace(/\.$/, '');
      // A single label is allowed only so the demo can serve `localhost`, which resolves to 127.0.0.1.
      if (!HOSTNAME.test(name) || (!name.includes('.') && name !== 'localhost'))
        throw new Error(`--zone: invalid zone name "${raw}"`);
      this.zones.set(zoneId(name), { id: zoneId(name), name, accountId, createdOn: now });
    }
    if (file !== null) this.load(file);
  }

  static open(stateDir: string, zoneNames: string[], accountId: string): DnsStore {
    return new DnsStore(path.join(stateDir, 'dns.json'), zoneNames, accountId);
  }

  private load(file: string): void {
    let saved: DnsRecord[];
    try {
      saved = (JSON.parse(readFileSync(file, 'utf8')) as { records: DnsRecord[] }).records;
    } catch {
      return;
    }
    // Records of zones no longer configured stay on disk untouched but are not served.
    for (const r of saved) if (this.zones.has(r.zone_id)) this.index(r);
  }

  private save(): void {
    if (this.file === null) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ records: [...this.records.values()] }));
    renameSync(tmp, this.file);
  }

  private index(r: DnsRecord): void {
    this.records.set(r.id, r);
    const list = this.byName.get(r.name);
    if (list === undefined) this.byName.set(r.name, [r]);
    else list.push(r);
  }

  private unindex(r: DnsRecord): void {
    this.records.delete(r.id);
    const list = (this.byName.get(r.name) ?? []).filter((x) => x.id !== r.id);
    if (list.length === 0) this.byName.delete(r.name);
    else this.byName.set(r.name, list);
  }

  zone(id: string): Zone {
    const z = this.zones.get(id);
    if (z === undefined)
      throw new ApiError(
        404,
        7003,
        'Could not route to /zones/' + id + ', perhaps your object identifier is invalid?',
      );
    return z;
  }

  list(zone: Zone): DnsRecord[] {
    return [...this.records.values()]
      .filter((r) => r.zone_id === zone.id)
      .sort((a, b) => (a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name)));
  }

  get(zone: Zone, id: string): DnsRecord {
    const r = this.records.get(id);
    if (r === undefined || r.zone_id !== zone.id) throw new ApiError(404, 81044, 'Record does not exist.');
    return r;
  }

  create(zone: Zone, input: RecordInput): DnsRecord {
    const now = new Date().toISOString();
    const r = this.validate(zone, input, {
      id: randomBytes(16).toString('hex'),
      created_on: now,
    });
    this.checkConflicts(r, null);
    this.index(r);
    this.save();
    return r;
  }

  /** PUT replaces every field; PATCH keeps those not given. */
  update(zone: Zone, id: string, input: RecordInput, partial: boolean): DnsRecord {
    const old = this.get(zone, id);
    const merged: RecordInput = partial
      ? {
          type: old.type,
          name: old.name,
          content: old.content,
          proxied: old.proxied,
          ttl: old.ttl,
          comment: old.comment,
          tags: old.tags,
          ...stripUndefined(input),
        }
      : input;
    const r = this.validate(zone, merged, { id: old.id, created_on: old.created_on });
    this.checkConflicts(r, old.id);
    this.unindex(old);
    this.index(r);
    this.save();
    return r;
  }

  delete(zone: Zone, id: string): DnsRecord {
    const r = this.get(zone, id);
    this.unindex(r);
    this.save();
    return r;
  }

  private validate(zone: Zone, input: RecordInput, keep: { id: string; created_on: string }): DnsRecord {
    const type = typeof input.type === 'string' ? input.type.toUpperCase() : '';
    if (!TYPES.has(type)) throw new ApiError(400, 9004, 'DNS record type is invalid.');
    if (typeof input.name !== 'string' || input.name === '') {
      throw new ApiError(400, 9007, 'DNS record name is required.');
    }
    const name = qualify(input.name, zone.name);
    if (name.length > 255 || !HOSTNAME.test(name)) throw new ApiError(400, 9005, 'DNS name is invalid.');
    if (name !== zone.name && !name.endsWith('.' + zone.name)) {
      throw new ApiError(400, 9005, `DNS name is invalid: ${name} is not in zone ${zone.name}.`);
    }
    if (typeof input.content !== 'string' || input.content === '') {
      throw new ApiError(400, 9021, 'Invalid or missing content for a DNS record.');
    }
    let content = input.content;
    if (type === 'CNAME') {
      content = content.toLowerCase().replace(/\.$/, '');
      if (!HOSTNAME.test(content)) throw new ApiError(400, 9007, 'Content for CNAME record is invalid.');
      if (content === name) throw new ApiError(400, 9039, 'CNAME content cannot reference itself.');
    }
    const proxiable = PROXIABLE.has(type);
    if (input.proxied !== undefined && typeof input.proxied !== 'boolean') {
      throw new ApiError(400, 9003, 'proxied must be a boolean.');
    }
    const proxied = input.proxied === true;
    if (proxied && !proxiable) throw new ApiError(400, 9004, `${type} records cannot be proxied.`);
    const ttl = input.ttl === undefined ? 1 : input.ttl;
    if (typeof ttl !== 'number' || !(ttl === 1 || (Number.isInteger(ttl) && ttl >= 60 && ttl <= 86400))) {
      throw new ApiError(400, 9141, 'TTL must be between 60 and 86400 seconds, or 1 for Automatic.');
    }
    if (input.comment !== undefined && input.comment !== null && typeof input.comment !== 'string') {
      throw new ApiError(400, 9100, 'comment must be a string.');
    }
    if (typeof input.comment === 'string' && input.comment.length > 100) {
      throw new ApiError(400, 9101, 'DNS record comment is too long (100 characters at most).');
    }
    const tags = input.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw new ApiError(400, 9102, 'tags must be a list of strings.');
    }
    return {
      id: keep.id,
      zone_id: zone.id,
      zone_name: zone.name,
      name,
      type,
      content,
      proxiable,
      proxied,
      ttl,
      comment: typeof input.comment === 'string' ? input.comment : null,
      tags: tags as string[],
      meta: { auto_added: false, source: 'primary' },
      created_on: keep.created_on,
      modified_on: new Date().toISOString(),
    };
  }

  private checkConflicts(r: DnsRecord, except: string | null): void {
    const same = (this.byName.get(r.name) ?? []).filter((x) => x.id !== except);
    if (same.some((x) => x.type === r.type && x.content === r.content)) {
      throw new ApiError(400, 81057, 'Record already exists.');
    }
    const addressLike = (t: string) => t === 'A' || t === 'AAAA' || t === 'CNAME';
    if (
      (r.type === 'CNAME' && same.length > 0) ||
      (addressLike(r.type) && same.some((x) => x.type === 'CNAME'))
    ) {
      throw new ApiError(400, 81053, 'An A, AAAA, or CNAME record with that host already exists.');
    }
  }

  /**
   * Routing by DNS: the tunnel a visitor's host goes to, from a proxied CNAME to
   * `<tunnel-id>.cfargotunnel.com` on the name itself or, failing that, on the closest wildcard.
   */
  tunnelFor(host: string): string | undefined {
    const records = closestName(this.byName, host.toLowerCase());
    return records === undefined ? undefined : tunnelTarget(records);
  }
}

/**
 * The entry for `name` in a map keyed by host names: the name itself, else the closest wildcard
 * above it (`*.b.example.com`, then `*.example.com`…), as a DNS wildcard record answers.
 */
export function closestName<T>(map: ReadonlyMap<string, T>, name: string): T | undefined {
  const exact = map.get(name);
  if (exact !== undefined) return exact;
  for (let at = name.indexOf('.'); at > 0; at = name.indexOf('.', at + 1)) {
    const wildcard = map.get('*' + name.slice(at));
    if (wildcard !== undefined) return wildcard;
  }
  return undefined;
}

const TUNNEL_TARGET = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.cfargotunnel\.com$/;

function tunnelTarget(records: DnsRecord[]): string | undefined {
  for (const r of records) {
    if (r.type !== 'CNAME' || !r.proxied) continue;
    const m = TUNNEL_TARGET.exec(r.content);
    if (m !== null) return m[1];
  }
  return undefined;
}

/** `@` is the apex; a name without the zone's suffix is relative to it, as in Cloudflare's dashboard. */
function qualify(raw: string, zone: string): string {
  const name = raw.toLowerCase().replace(/\.$/, '');
  if (name === '@') return zone;
  if (name === zone || name.endsWith('.' + zone)) return name;
  return `${name}.${zone}`;
}

function stripUndefined(o: RecordInput): RecordInput {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as RecordInput;
}
