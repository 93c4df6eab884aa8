import Cloudflare from 'cloudflare';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { CloudflareSchema, validatingFetch } from '../../test/helpers/cloudflare-openapi.js';
import { agentArgs, startAgent, startEdgeSim, type EdgeSimProc } from '../../test/helpers/stack.js';
import { parseToken } from '../../tunnel/credentials.js';

/** edge-sim's Cloudflare API through the official SDK; every response checked against the OpenAPI subset. */
const TOKEN = 'test-token-0123456789';

async function first<T>(items: AsyncIterable<T>): Promise<T | undefined> {
  for await (const x of items) return x;
  return undefined;
}

describe('edge-sim Cloudflare API', () => {
  let edge: EdgeSimProc;
  let cf: Cloudflare;
  let account: string;
  let zoneId: string;
  const violations: string[] = [];
  const schema = new CloudflareSchema();

  beforeAll(async () => {
    edge = await startEdgeSim({
      tunnels: [],
      routes: [],
      extra: [
        '--api-token',
        TOKEN,
        '--api-token',
        'other-account:foreign-token',
        '--zone',
        'example.com',
        '--zone',
        'example.org',
      ],
    });
    cf = new Cloudflare({
      apiToken: TOKEN,
      baseURL: `${edge.apiUrl}/client/v4`,
      maxRetries: 0,
      fetch: validatingFetch(schema, violations),
    });
    const zones = [];
    for await (const z of cf.zones.list({ name: 'example.com' })) zones.push(z);
    expect(zones.map((z) => z.name)).toEqual(['example.com']);
    zoneId = zones[0]?.id as string;
    account = zones[0]?.account.id as string;
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
  });

  it('answers a missing or wrong token with the error envelope', async () => {
    const none = await request(`${edge.apiUrl}/client/v4/zones`);
    expect(none.statusCode).toBe(400);
    const noneBody = (await none.body.json()) as { success: boolean; errors: Array<{ code: number }> };
    expect(noneBody).toMatchObject({ success: false, errors: [{ code: 9106 }], result: null });
    const wrong = await request(`${edge.apiUrl}/client/v4/zones`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(403);
    expect(await wrong.body.json()).toMatchObject({ success: false, errors: [{ code: 9109 }] });
    expect(
      schema.check('GET', '/zones', 403, {
        success: false,
        errors: [{ code: 9109, message: 'x' }],
        messages: [],
        result: null,
      }),
    ).toBeNull();
    // A token bound to another account sees none of this account's zones or tunnels.
    const foreign = new Cloudflare({
      apiToken: 'foreign-token',
      baseURL: `${edge.apiUrl}/client/v4`,
      maxRetries: 0,
    });
    const seen = [];
    for await (const z of foreign.zones.list()) seen.push(z);
    expect(seen).toEqual([]);
    await expect(foreign.zeroTrust.tunnels.cloudflared.list({ account_id: account })).rejects.toMatchObject({
      status: 403,
    });
  });

  it('creates, lists, renames, tokens and soft-deletes tunnels', async () => {
    const t = await cf.zeroTrust.tunnels.cloudflared.create({
      account_id: account,
      name: 'api-made',
      config_src: 'local',
    });
    expect(t).toMatchObject({
      name: 'api-made',
      status: 'inactive',
      tun_type: 'cfd_tunnel',
    });
    expect(t.deleted_at ?? null).toBeNull();
    await expect(
      cf.zeroTrust.tunnels.cloudflared.create({ account_id: account, name: 'api-made' }),
    ).rejects.toMatchObject({ status: 409, errors: [expect.objectContaining({ code: 1013 })] });
    const token = await cf.zeroTrust.tunnels.cloudflared.token.get(t.id as string, { account_id: account });
    expect(parseToken(token as string).tunnelId).toBe(t.id);
    const secret = Buffer.alloc(32, 7).toString('base64');
    const t2 = await cf.zeroTrust.tunnels.cloudflared.create({
      account_id: account,
      name: 'with-secret',
      tunnel_secret: secret,
    });
    const tok2 = parseToken(
      (await cf.zeroTrust.tunnels.cloudflared.token.get(t2.id as string, { account_id: account })) as string,
    );
    expect(tok2.tunnelSecret.toString('base64')).toBe(secret);

    const byName = [];
    for await (const x of cf.zeroTrust.tunnels.cloudflared.list({
      account_id: account,
      name: 'api-made',
      is_deleted: false,
    }))
      byName.push(x);
    expect(byName.map((x) => x.id)).toEqual([t.id]);

    await cf.zeroTrust.tunnels.cloudflared.edit(t2.id as string, { account_id: account, name: 'renamed' });
    expect((await cf.zeroTrust.tunnels.cloudflared.get(t2.id as string, { account_id: account })).name).toBe(
      'renamed',
    );

    const deleted = await cf.zeroTrust.tunnels.cloudflared.delete(t.id as string, { account_id: account });
    expect(deleted.deleted_at).toEqual(expect.any(String));
    const live = [];
    for await (const x of cf.zeroTrust.tunnels.cloudflared.list({ account_id: account, is_deleted: false }))
      live.push(x.name);
    expect(live).not.toContain('api-made');
    const gone = [];
    for await (const x of cf.zeroTrust.tunnels.cloudflared.list({ account_id: account, is_deleted: true }))
      gone.push(x.name);
    expect(gone).toEqual(['api-made']);
    // The name is free again once deleted.
    await cf.zeroTrust.tunnels.cloudflared.create({ account_id: account, name: 'api-made' });
  });

  it('paginates with an empty page past the last, so the SDK stops', async () => {
    for (let i = 0; i < 7; i++) {
      await cf.dns.records.create({
        zone_id: zoneId,
        ttl: 1,
        type: 'TXT',
        name: `page-${i}.example.com`,
        content: `v${i}`,
      });
    }
    const names: string[] = [];
    for await (const r of cf.dns.records.list({
      zone_id: zoneId,
      per_page: 3,
      name: { startswith: 'page-' },
    }))
      names.push(r.name as string);
    expect(names).toHaveLength(7);
    const past = await request(`${edge.apiUrl}/client/v4/zones/${zoneId}/dns_records?per_page=3&page=9`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(await past.body.json()).toMatchObject({
      success: true,
      result: [],
      result_info: { page: 9, count: 0, total_count: 7 },
    });
  });

  it('keeps DNS records as Cloudflare does: filters, conflicts, patch, put, delete', async () => {
    const rec = await cf.dns.records.create({
      zone_id: zoneId,
      type: 'CNAME',
      name: 'app',
      content: '11111111-2222-3333-4444-555555555555.cfargotunnel.com',
      proxied: true,
      ttl: 1,
      comment: 'made by a test',
    });
    expect(rec).toMatchObject({ name: 'app.example.com', proxied: true, proxiable: true, ttl: 1 });
    await expect(
      cf.dns.records.create({
        zone_id: zoneId,
        ttl: 1,
        type: 'A',
        name: 'app.example.com',
        content: '192.0.2.1',
      }),
    ).rejects.toMatchObject({ status: 400, errors: [expect.objectContaining({ code: 81053 })] });
    await expect(
      cf.dns.records.create({
        zone_id: zoneId,
        ttl: 1,
        type: 'TXT',
        name: 'page-0.example.com',
        content: 'v0',
      }),
    ).rejects.toMatchObject({ errors: [expect.objectContaining({ code: 81057 })] });
    await expect(
      cf.dns.records.create({ zone_id: zoneId, type: 'TXT', name: 'x', content: 'y', ttl: 5 }),
    ).rejects.toMatchObject({ status: 400 });
    const exact = [];
    for await (const r of cf.dns.records.list({
      zone_id: zoneId,
      name: { exact: 'app.example.com' },
      type: 'CNAME',
    }))
      exact.push(r.id);
    expect(exact).toEqual([rec.id]);
    const byComment = [];
    for await (const r of cf.dns.records.list({ zone_id: zoneId, comment: { contains: 'BY A TEST' } }))
      byComment.push(r.id);
    expect(byComment).toEqual([rec.id]);
    const patched = await cf.dns.records.edit(
      rec.id as string,
      { zone_id: zoneId, comment: 'patched' } as never,
    );
    expect(patched).toMatchObject({ comment: 'patched', proxied: true, content: rec.content });
    const put = await cf.dns.records.update(rec.id as string, {
      zone_id: zoneId,
      ttl: 1,
      type: 'CNAME',
      name: 'app.example.com',
      content: 'target.example.org',
    });
    expect(put).toMatchObject({ proxied: false, content: 'target.example.org' });
    expect(put.comment ?? null).toBeNull();
    await cf.dns.records.delete(rec.id as string, { zone_id: zoneId });
    await expect(cf.dns.records.get(rec.id as string, { zone_id: zoneId })).rejects.toMatchObject({
      status: 404,
      errors: [expect.objectContaining({ code: 81044 })],
    });
  });

  it('injects 429 with Retry-After, 5xx and delays on request', async () => {
    const set = (spec: object) =>
      request(`${edge.apiUrl}/_edge/api-faults`, { method: 'POST', body: JSON.stringify(spec) }).then((r) =>
        r.body.text(),
      );
    await set({ status: 429, count: 1, retryAfterS: 3 });
    const limited = await request(`${edge.apiUrl}/client/v4/zones`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('3');
    expect(await limited.body.json()).toMatchObject({ success: false, errors: [{ code: 10013 }] });
    await set({ status: 503, count: 1 });
    await expect(first(cf.zones.list())).rejects.toMatchObject({ status: 503 });
    await set({ delayMs: 300, count: 1 });
    const t0 = Date.now();
    await first(cf.zones.list());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const ok = await first(cf.zones.list());
    expect(ok?.name).toBe('example.com');
  });

  it('validated every response against the OpenAPI subset', () => {
    expect(violations).toEqual([]);
  });
});

describe('edge-sim API: connections, configuration and routing by DNS', () => {
  let edge: EdgeSimProc;
  let origin: Awaited<ReturnType<typeof startEchoOrigin>>;
  const violations: string[] = [];
  beforeAll(async () => {
    origin = await startEchoOrigin('dns-origin');
    edge = await startEdgeSim({
      tunnels: ['dns'],
      routes: [],
      extra: ['--api-token', TOKEN, '--zone', 'example.net'],
    });
  }, 30_000);
  afterAll(async () => {
    await edge?.stop();
    origin?.server.close();
  });

  it('routes visitors by proxied CNAMEs (and wildcards) to live connections, and pushes configuration', async () => {
    const cf = new Cloudflare({
      apiToken: TOKEN,
      baseURL: `${edge.apiUrl}/client/v4`,
      maxRetries: 0,
      fetch: validatingFetch(new CloudflareSchema(), violations),
    });
    const zone = (await first(cf.zones.list({ name: 'example.net' }))) as {
      id: string;
      account: { id: string };
    };
    const [tunnel] = await edge.tunnels();
    const id = tunnel?.id as string;
    const visit = async (host: string) => {
      const res = await request(`${edge.publicUrl}/echo`, { headers: { host } });
      await res.body.text();
      return res.statusCode;
    };
    expect(await visit('www.example.net')).toBe(530);
    const agent = await startAgent(
      agentArgs(edge, 'dns', `http://127.0.0.1:${origin.port}`, ['--ha-connections', '2']),
      { waitReady: 2 },
    );
    try {
      expect(await visit('www.example.net')).toBe(530); // no record yet
      await cf.dns.records.create({
        zone_id: zone.id,
        ttl: 1,
        type: 'CNAME',
        name: 'www',
        content: `${id}.cfargotunnel.com`,
        proxied: true,
      });
      await cf.dns.records.create({
        zone_id: zone.id,
        ttl: 1,
        type: 'CNAME',
        name: 'dns-only',
        content: `${id}.cfargotunnel.com`,
        proxied: false,
      });
      await cf.dns.records.create({
        zone_id: zone.id,
        ttl: 1,
        type: 'CNAME',
        name: '*.apps',
        content: `${id}.cfargotunnel.com`,
        proxied: true,
      });
      expect(await visit('www.example.net')).toBe(200);
      expect(await visit('WWW.Example.NET')).toBe(200);
      expect(await visit('dns-only.example.net')).toBe(530);
      expect(await visit('a.b.apps.example.net')).toBe(200);
      expect(await visit('apps.example.net')).toBe(530);

      const clients = [];
      for await (const c of cf.zeroTrust.tunnels.cloudflared.connections.get(id, {
        account_id: zone.account.id,
      }))
        clients.push(c);
      expect(clients).toHaveLength(1);
      expect(clients[0]?.conns).toHaveLength(2);
      const t = await cf.zeroTrust.tunnels.cloudflared.get(id, { account_id: zone.account.id });
      expect(t.status).toBe('healthy');
      await expect(
        cf.zeroTrust.tunnels.cloudflared.delete(id, { account_id: zone.account.id }),
      ).rejects.toMatchObject({ status: 400 });

      const put = await cf.zeroTrust.tunnels.cloudflared.configurations.update(id, {
        account_id: zone.account.id,
        config: {
          ingress: [
            { hostname: 'www.example.net', service: 'http://localhost:1' },
            { service: 'http_status:404' } as never,
          ],
        },
      });
      expect(put.version).toBe(1);
      await agent.proc.waitForMsg(
        'remote configuration received; ignored, routes come from Kubernetes or --url',
        5000,
      );
      const got = await cf.zeroTrust.tunnels.cloudflared.configurations.get(id, {
        account_id: zone.account.id,
      });
      expect(got.config?.ingress?.[0]?.hostname).toBe('www.example.net');
    } finally {
      await agent.stop();
    }
    expect(violations).toEqual([]);
  }, 60_000);
});
