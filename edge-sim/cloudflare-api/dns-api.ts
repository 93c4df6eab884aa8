import type { DnsRecord, DnsStore, RecordInput, Zone } from './dns-store.js';
import { ApiError, paginate } from './envelope.js';
import type { Reply } from './tunnels-api.js';

/** /zones and /zones/:zone/dns_records, with the list filters Cloudflare documents. */
export class DnsApi {
  constructor(private readonly store: DnsStore) {}

  private zoneFor(account: string, id: string): Zone {
    const z = this.store.zone(id);
    if (z.accountId !== account) throw new ApiError(403, 10000, 'Authentication error');
    return z;
  }

  listZones(account: string, q: URLSearchParams): Reply {
    const name = q.get('name')?.toLowerCase() ?? null;
    const status = q.get('status');
    const acct = q.get('account.id');
    const items = [...this.store.zones.values()]
      .filter(
        (z) =>
          z.accountId === account &&
          (name === null || z.name === name) &&
          (status === null || status === 'active') &&
          (acct === null || acct === z.accountId),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
    const [page, info] = paginate(items, q, 50);
    return { result: page.map(zoneView), info };
  }

  listRecords(account: string, zoneId: string, q: URLSearchParams): Reply {
    const zone = this.zoneFor(account, zoneId);
    const tests = compileFilters(q);
    const all = q.get('match') === 'any';
    const items = this.store
      .list(zone)
      .filter((r) => tests.length === 0 || (all ? tests.some((t) => t(r)) : tests.every((t) => t(r))));
    const [page, info] = paginate(items, q, 5000);
    return { result: page, info };
  }

  getRecord(account: string, zoneId: string, id: string): Reply {
    return { result: this.store.get(this.zoneFor(account, zoneId), id) };
  }

  createRecord(account: string, zoneId: string, body: Record<string, unknown>): Reply {
    return { result: this.store.create(this.zoneFor(account, zoneId), body as RecordInput) };
  }

  updateRecord(
    account: string,
    zoneId: string,
    id: string,
    body: Record<string, unknown>,
    partial: boolean,
  ): Reply {
    return { result: this.store.update(this.zoneFor(account, zoneId), id, body as RecordInput, partial) };
  }

  deleteRecord(account: string, zoneId: string, id: string): Reply {
    const r = this.store.delete(this.zoneFor(account, zoneId), id);
    return { result: { id: r.id } };
  }
}

type Test = (r: DnsRecord) => boolean;

/** name, name.exact/contains/startswith/endswith, type, content(.…), proxied, comment(.…), tag(.…). */
function compileFilters(q: URLSearchParams): Test[] {
  const tests: Test[] = [];
  const text = (field: 'name' | 'content', ci: boolean) => {
    const get = (r: DnsRecord) => (ci ? r[field].toLowerCase() : r[field]);
    const norm = (v: string) => (ci ? v.toLowerCase() : v);
    const exact = q.get(field) ?? q.get(`${field}.exact`);
    if (exact !== null) tests.push((r) => get(r) === norm(exact));
    stringOps(q, field, get, norm, tests);
  };
  text('name', true);
  text('content', false);
  const type = q.get('type');
  if (type !== null) tests.push((r) => r.type === type.toUpperCase());
  const proxied = q.get('proxied');
  if (proxied !== null) tests.push((r) => r.proxied === (proxied === 'true'));
  const comment = (r: DnsRecord) => (r.comment ?? '').toLowerCase();
  const commentExact = q.get('comment') ?? q.get('comment.exact');
  if (commentExact !== null) tests.push((r) => comment(r) === commentExact.toLowerCase());
  if (q.has('comment.present')) tests.push((r) => r.comment !== null && r.comment !== '');
  if (q.has('comment.absent')) tests.push((r) => r.comment === null || r.comment === '');
  stringOps(q, 'comment', comment, (v) => v.toLowerCase(), tests);
  const tagPresent = q.get('tag.present') ?? (q.get('tag')?.includes(':') === false ? q.get('tag') : null);
  if (tagPresent !== null) tests.push((r) => r.tags.some((t) => t.split(':')[0] === tagPresent));
  const tagExact = q.get('tag.exact') ?? (q.get('tag')?.includes(':') === true ? q.get('tag') : null);
  if (tagExact !== null) tests.push((r) => r.tags.includes(tagExact));
  const tagAbsent = q.get('tag.absent');
  if (tagAbsent !== null) tests.push((r) => !r.tags.some((t) => t.split(':')[0] === tagAbsent));
  return tests;
}

function stringOps(
  q: URLSearchParams,
  field: string,
  get: (r: DnsRecord) => string,
  norm: (v: string) => string,
  tests: Test[],
): void {
  const contains = q.get(`${field}.contains`);
  if (contains !== null) tests.push((r) => get(r).includes(norm(contains)));
  const starts = q.get(`${field}.startswith`);
  if (starts !== null) tests.push((r) => get(r).startsWith(norm(starts)));
  const ends = q.get(`${field}.endswith`);
  if (ends !== null) tests.push((r) => get(r).endsWith(norm(ends)));
}

function zoneView(z: Zone): Record<string, unknown> {
  return {
    id: z.id,
    name: z.name,
    status: 'active',
    paused: false,
    type: 'full',
    development_mode: 0,
    name_servers: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: z.createdOn,
    modified_on: z.createdOn,
    activated_on: z.createdOn,
    owner: { id: null, type: 'user', email: null },
    account: { id: z.accountId, name: 'edge-sim account' },
    meta: {
      cdn_only: false,
      dns_only: false,
      foundation_dns: false,
      page_rule_quota: 3,
      phishing_detected: false,
      step: 2,
    },
    permissions: ['#dns_records:edit', '#dns_records:read', '#zone:read'],
    vanity_name_servers: [],
  };
}
