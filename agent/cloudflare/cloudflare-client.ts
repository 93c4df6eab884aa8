import Cloudflare from 'cloudflare';
import { ApiPacer } from './api-pacer.js';
import type { ZoneRecord } from './dns-plan.js';

export interface CloudflareClientOptions {
  apiToken: string;
  accountId: string;
  baseURL?: string;
  pacer?: ApiPacer;
  timeoutMs?: number;
}

export interface ZoneInfo {
  id: string;
  name: string;
}

export interface TunnelInfo {
  id: string;
  name: string;
}

const PER_PAGE = 5000;

/**
 * The Cloudflare calls the agent makes, through the official SDK, each paced under the account's
 * limit. The SDK's own retries are off: the pacer handles 429, and the DNS controller retries a
 * failed name with backoff, so one slow name never holds up the rest.
 */
export class CloudflareClient {
  readonly sdk: Cloudflare;
  readonly pacer: ApiPacer;
  readonly accountId: string;

  constructor(opts: CloudflareClientOptions) {
    this.sdk = new Cloudflare({
      apiToken: opts.apiToken,
      baseURL: opts.baseURL,
      maxRetries: 0,
      timeout: opts.timeoutMs ?? 30_000,
      // The SDK logs nothing by default; keep it that way so no request detail (or token) leaks.
      logLevel: 'off',
    });
    this.pacer = opts.pacer ?? new ApiPacer();
    this.accountId = opts.accountId;
  }

  async listZones(): Promise<ZoneInfo[]> {
    const out: ZoneInfo[] = [];
    for (let page = 1; ; page++) {
      const res = await this.pacer.run(() => this.sdk.zones.list({ page, per_page: 50 }));
      for (const z of res.result) out.push({ id: z.id, name: z.name.toLowerCase() });
      if (!hasMore(res.result_info, page, 50, res.result.length)) return out;
    }
  }

  /** Every record of a zone, walking pages by result_info (no extra call for the empty page). */
  /** Purges a zone's edge cache by one selector (the token needs Zone → Cache Purge). */
  async purgeCache(
    zoneId: string,
    selector: { hosts: string[] } | { prefixes: string[] } | { tags: string[] },
  ): Promise<void> {
    await this.pacer.run(() => this.sdk.cache.purge({ zone_id: zoneId, ...selector }));
  }

  async listRecords(zoneId: string): Promise<ZoneRecord[]> {
    const out: ZoneRecord[] = [];
    for (let page = 1; ; page++) {
      const res = await this.pacer.run(() =>
        this.sdk.dns.records.list({ zone_id: zoneId, page, per_page: PER_PAGE }),
      );
      for (const r of res.result) {
        out.push({
          id: r.id,
          name: r.name,
          type: r.type,
          content: typeof r.content === 'string' ? r.content : '',
          proxied: r.proxied,
          ttl: r.ttl,
        });
      }
      if (!hasMore(res.result_info, page, PER_PAGE, res.result.length)) return out;
    }
  }

  async createRecord(
    zoneId: string,
    r: { type: 'CNAME' | 'TXT'; name: string; content: string; proxied: boolean },
  ): Promise<void> {
    await this.pacer.run(() =>
      this.sdk.dns.records.create({
        zone_id: zoneId,
        type: r.type,
        name: r.name,
        content: r.content,
        ttl: 1,
        ...(r.type === 'CNAME' ? { proxied: r.proxied } : {}),
      } as Cloudflare.DNS.RecordCreateParams),
    );
  }

  async updateRecord(
    zoneId: string,
    id: string,
    r: { type: 'CNAME' | 'TXT'; name: string; content: string; proxied: boolean },
  ): Promise<void> {
    await this.pacer.run(() =>
      this.sdk.dns.records.edit(id, {
        zone_id: zoneId,
        type: r.type,
        name: r.name,
        content: r.content,
        ttl: 1,
        ...(r.type === 'CNAME' ? { proxied: r.proxied } : {}),
      } as Cloudflare.DNS.RecordEditParams),
    );
  }

  async deleteRecord(zoneId: string, id: string): Promise<void> {
    await this.pacer.run(() => this.sdk.dns.records.delete(id, { zone_id: zoneId }));
  }

  async findTunnel(name: string): Promise<TunnelInfo | null> {
    const res = await this.pacer.run(() =>
      this.sdk.zeroTrust.tunnels.cloudflared.list({ account_id: this.accountId, name, is_deleted: false }),
    );
    const t = res.result.find((x) => x.name === name && x.id !== undefined);
    return t === undefined ? null : { id: t.id as string, name };
  }

  async createTunnel(name: string, secret: Buffer): Promise<TunnelInfo> {
    const t = await this.pacer.run(() =>
      this.sdk.zeroTrust.tunnels.cloudflared.create({
        account_id: this.accountId,
        name,
        config_src: 'local',
        tunnel_secret: secret.toString('base64'),
      }),
    );
    return { id: t.id as string, name };
  }

  async tunnelToken(id: string): Promise<string> {
    return (await this.pacer.run(() =>
      this.sdk.zeroTrust.tunnels.cloudflared.token.get(id, { account_id: this.accountId }),
    )) as string;
  }

  async tunnelExists(id: string): Promise<boolean> {
    try {
      const t = await this.pacer.run(() =>
        this.sdk.zeroTrust.tunnels.cloudflared.get(id, { account_id: this.accountId }),
      );
      return t.deleted_at === undefined || t.deleted_at === null;
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false;
      throw err;
    }
  }
}

function hasMore(info: unknown, page: number, perPage: number, got: number): boolean {
  if (got === 0) return false;
  const total = (info as { total_count?: unknown } | undefined)?.total_count;
  if (typeof total === 'number') return page * perPage < total;
  return got === perPage;
}
