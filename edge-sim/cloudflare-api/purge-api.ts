import type { EdgeCache, PurgeSelector } from '../cache/edge-cache.js';
import type { DnsStore } from './dns-store.js';
import { ApiError } from './envelope.js';
import type { Reply } from './tunnels-api.js';

/**
 * A token bucket per account, as Cloudflare limits purges today (../shared/cloudflare-cache.md §11).
 * edge-sim applies the Free plan's numbers, the lowest: a tool that stays within them works on every plan.
 */
class TokenBucket {
  private readonly state = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly size: number,
    private readonly perSecond: number,
  ) {}

  /** Takes `n` tokens; false (and nothing taken) when there are not enough. */
  take(key: string, n: number, now = Date.now()): boolean {
    const s = this.state.get(key) ?? { tokens: this.size, at: now };
    s.tokens = Math.min(this.size, s.tokens + ((now - s.at) / 1000) * this.perSecond);
    s.at = now;
    this.state.set(key, s);
    if (s.tokens < n) return false;
    s.tokens -= n;
    return true;
  }
}

/** Items one purge request may name (every plan, §11). */
export const PURGE_MAX_ITEMS = 100;
const TAG_MAX = 1024;
const PREFIX_MAX_SEPARATORS = 31;

function list(body: Record<string, unknown>, field: string): unknown[] {
  const v = body[field];
  if (!Array.isArray(v) || v.length === 0)
    throw new ApiError(400, 1002, `${field} must be a non-empty array`);
  if (v.length > PURGE_MAX_ITEMS)
    throw new ApiError(400, 1002, `${field}: at most ${PURGE_MAX_ITEMS} items per request`);
  return v;
}

const str = (v: unknown, field: string): string => {
  if (typeof v !== 'string' || v === '')
    throw new ApiError(400, 1002, `${field} must hold non-empty strings`);
  return v;
};

/** The body of a purge request, checked: exactly one of the selectors Cloudflare's schema allows. */
export function parsePurge(body: Record<string, unknown>): PurgeSelector {
  const given = ['purge_everything', 'files', 'hosts', 'prefixes', 'tags'].filter(
    (k) => body[k] !== undefined,
  );
  if (given.length !== 1)
    throw new ApiError(400, 1002, 'give exactly one of purge_everything, files, hosts, prefixes or tags');
  switch (given[0]) {
    case 'purge_everything':
      if (body.purge_everything !== true) throw new ApiError(400, 1002, 'purge_everything must be true');
      return { everything: true };
    case 'files':
      return {
        files: list(body, 'files').map((f) => {
          if (typeof f === 'string') return { url: str(f, 'files'), headers: {} };
          const o = f as { url?: unknown; headers?: unknown };
          if (typeof o !== 'object' || o === null)
            throw new ApiError(400, 1002, 'files: a URL or {url, headers}');
          const headers = (o.headers ?? {}) as Record<string, unknown>;
          if (typeof headers !== 'object' || Object.values(headers).some((v) => typeof v !== 'string'))
            throw new ApiError(400, 1002, 'files: headers must map names to strings');
          return { url: str(o.url, 'files[].url'), headers: headers as Record<string, string> };
        }),
      };
    case 'hosts':
      return { hosts: list(body, 'hosts').map((h) => str(h, 'hosts').toLowerCase()) };
    case 'prefixes':
      return {
        prefixes: list(body, 'prefixes').map((p) => {
          const v = str(p, 'prefixes');
          if (/^[a-z]+:\/\//i.test(v)) throw new ApiError(400, 1002, `prefixes: "${v}" has a scheme`);
          if (/[?#]/.test(v))
            throw new ApiError(400, 1002, `prefixes: "${v}" has a query string or fragment`);
          if (v.split('/').length - 1 > PREFIX_MAX_SEPARATORS)
            throw new ApiError(
              400,
              1002,
              `prefixes: "${v}" has more than ${PREFIX_MAX_SEPARATORS} path separators`,
            );
          return v;
        }),
      };
    default:
      return {
        tags: list(body, 'tags').map((t) => {
          const v = str(t, 'tags');
          if (v.length > TAG_MAX)
            throw new ApiError(400, 1002, `tags: a tag is at most ${TAG_MAX} characters`);
          return v;
        }),
      };
  }
}

/**
 * `POST /zones/:zone/purge_cache`: removes from edge-sim's cache what the selector matches, within
 * the zone's hosts, under Cloudflare's per-account limits (host/tag/prefix/everything: 5 a minute
 * with a burst of 25; files: 800 URLs a second), answering `{result: {id: <zone id>}}`.
 */
export class PurgeApi {
  private readonly requests = new TokenBucket(25, 5 / 60);
  private readonly urls = new TokenBucket(800, 800);
  /** purges done, for tests and the bench */
  readonly log: Array<{ zone: string; selector: PurgeSelector; removed: number; at: number }> = [];

  constructor(
    private readonly dns: DnsStore,
    private readonly cache: EdgeCache | null,
  ) {}

  purge(account: string, zoneId: string, body: Record<string, unknown>): Reply {
    const zone = this.dns.zone(zoneId);
    if (zone.accountId !== account) throw new ApiError(403, 10000, 'Authentication error');
    const selector = parsePurge(body);
    const allowed =
      'files' in selector ? this.urls.take(account, selector.files.length) : this.requests.take(account, 1);
    if (!allowed)
      throw new ApiError(429, 10013, 'Rate limited. Please wait and consider throttling your request speed');
    // A zone's purge reaches its own names only: its apex and the names under it.
    const inZone = (o: { host: string }) => o.host === zone.name || o.host.endsWith(`.${zone.name}`);
    const removed = this.cache?.purge(selector, inZone) ?? 0;
    if (this.log.length < 10_000) this.log.push({ zone: zoneId, selector, removed, at: Date.now() });
    return { result: { id: zone.id } };
  }
}
