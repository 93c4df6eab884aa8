import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCredentialsFile, uuidToBytes } from '../../tunnel/credentials.js';
import { AgentHttp2Connection } from '../../tunnel/http2/agent-connection.js';
import type { TunnelRequest } from '../../tunnel/responder.js';
import { registerSecret } from '../helpers/secret-scan.js';
import { startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/**
 * What real cloudflared found different between edge-sim's API and tunnel listener and Cloudflare's:
 * `cloudflared tunnel route dns` (the legacy hostname route), `tunnel list`'s name-prefix and `--when`
 * filters, a --create-tunnel tunnel's creation time across restarts, wildcard --route entries, and an
 * unregistered HTTP/2 connection that the edge closes once drained.
 */
const TOKEN = 'edge-sim-api-fidelity-token';
const ZONE = 'fidelity.test';

describe("edge-sim's API and tunnel listener, as cloudflared meets them", () => {
  let edge: EdgeSimProc;
  let origin: http.Server;
  let zoneId: string;
  const api = async (method: 'GET' | 'PUT' | 'POST', p: string, body?: unknown) => {
    const res = await request(`${edge.apiUrl}/client/v4${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  };
  const start = (stateDir?: string) =>
    startEdgeSim({
      tunnels: ['apps', 'apps-old', 'batch'],
      routes: ['*.wild.test=apps'],
      extra: ['--api-token', TOKEN, '--zone', ZONE],
      ...(stateDir === undefined ? {} : { stateDir }),
    });

  beforeAll(async () => {
    registerSecret(TOKEN);
    origin = http.createServer((_req, res) => res.end('ok\n'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    edge = await start();
    zoneId = (await api('GET', `/zones?name=${ZONE}`)).body.result[0].id;
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    origin?.close();
  });

  /** One HTTP/2 connector of tunnel `name`, registered with edge-sim as the agent's connections are. */
  const connector = async (name: string, onRequest: (req: TunnelRequest) => void) => {
    const creds = parseCredentialsFile(await readFile(edge.credentialsFile(name), 'utf8'));
    return AgentHttp2Connection.connect({
      host: '127.0.0.1',
      port: Number(edge.tunnelAddr.split(':')[1]),
      ca: await readFile(edge.caFile),
      registration: registrationFor(creds.accountTag, creds.tunnelSecret, creds.tunnelId),
      onRequest,
    });
  };
  const tunnelId = async (name: string) =>
    (await api('GET', `/accounts/${edge.account}/cfd_tunnel?name=${name}`)).body.result[0].id as string;

  it('serves `cloudflared tunnel route dns`: a proxied CNAME to the tunnel, 1003 on a clash unless overwriting', async () => {
    const id = await tunnelId('apps');
    const route = (host: string, overwrite = false) =>
      api('PUT', `/zones/${zoneId}/tunnels/${id}/routes`, {
        type: 'dns',
        user_hostname: host,
        overwrite_existing: overwrite,
      });
    const made = await route('shop');
    expect(made.status).toBe(200);
    expect(made.body).toMatchObject({ success: true, errors: [], messages: [] });
    expect(made.body.result).toEqual({ cname: 'new', name: `shop.${ZONE}` });
    expect((await route(`shop.${ZONE}`)).body.result).toEqual({ cname: 'unchanged', name: `shop.${ZONE}` });
    const records = (await api('GET', `/zones/${zoneId}/dns_records?name=shop.${ZONE}`)).body.result;
    expect(records).toEqual([
      expect.objectContaining({ type: 'CNAME', content: `${id}.cfargotunnel.com`, proxied: true }),
    ]);
    // Someone else's record of that name: refused, then taken over with overwrite_existing.
    await api('POST', `/zones/${zoneId}/dns_records`, {
      type: 'A',
      name: `legacy.${ZONE}`,
      content: '192.0.2.7',
    });
    const clash = await route('legacy');
    expect(clash.status).toBe(400);
    expect(clash.body.errors[0].code).toBe(1003);
    expect((await route('legacy', true)).body.result).toEqual({ cname: 'new', name: `legacy.${ZONE}` });
    const after = (await api('GET', `/zones/${zoneId}/dns_records?name=legacy.${ZONE}`)).body.result;
    expect(after.map((r: { type: string }) => r.type)).toEqual(['CNAME']);
  });

  it('filters `tunnel list` by name prefix, excluded prefix and existence at a time', async () => {
    const names = async (q: string) =>
      (
        (await api('GET', `/accounts/${edge.account}/cfd_tunnel?is_deleted=false&${q}`)).body
          .result as Array<{
          name: string;
        }>
      )
        .map((t) => t.name)
        .sort();
    expect(await names('include_prefix=apps')).toEqual(['apps', 'apps-old']);
    expect(await names('exclude_prefix=apps')).toEqual(['batch']);
    expect(await names('include_prefix=apps&exclude_prefix=apps-')).toEqual(['apps']);
    expect(await names(`existed_at=${encodeURIComponent('2001-01-01T00:00:00Z')}`)).toEqual([]);
    expect(await names(`existed_at=${encodeURIComponent(new Date().toISOString())}`)).toEqual([
      'apps',
      'apps-old',
      'batch',
    ]);
  });

  it('routes a wildcard --route to its tunnel, at any depth below it', async () => {
    const conn = await connector('apps', (req) => {
      const body = Buffer.from('from apps\n');
      req.responder.respond(req.stream, 200, ['x-tunnel', 'apps'], String(body.length));
      req.responder.data(req.stream, body);
      req.responder.end(req.stream, null);
    });
    try {
      for (const host of ['a.wild.test', 'b.c.wild.test']) {
        const res = await request(`${edge.publicUrl}/`, { headers: { host } });
        expect(res.statusCode).toBe(200);
        expect(res.headers['x-tunnel']).toBe('apps');
        await res.body.text();
      }
      const bare = await request(`${edge.publicUrl}/`, { headers: { host: 'wild.test' } });
      expect(bare.statusCode).toBe(530);
      await bare.body.text();
    } finally {
      conn.close();
    }
  });

  it('closes an unregistered HTTP/2 connection as soon as nothing is in flight on it', async () => {
    const conn = await connector('batch', () => {});
    const closed = new Promise<number>((r) => conn.once('close', () => r(Date.now())));
    const t0 = Date.now();
    await conn.unregister(5000);
    // The connector does not close it: the edge does.
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    expect(at).toBeGreaterThan(0);
    expect(at - t0).toBeLessThan(1000);
  });

  it("keeps a --create-tunnel tunnel's creation time when edge-sim starts again", async () => {
    const before = (await api('GET', `/accounts/${edge.account}/cfd_tunnel?name=batch`)).body.result[0]
      .created_at;
    const stateDir = edge.stateDir;
    await edge.proc.stop();
    await new Promise((r) => setTimeout(r, 1100));
    edge = await start(stateDir);
    const after = (await api('GET', `/accounts/${edge.account}/cfd_tunnel?name=batch`)).body.result[0]
      .created_at;
    expect(after).toBe(before);
  });
});

function registrationFor(accountTag: string, secret: Buffer, tunnelId: string) {
  return {
    auth: { accountTag, tunnelSecret: secret },
    tunnelId: uuidToBytes(tunnelId),
    connIndex: 0,
    options: {
      client: { clientId: Buffer.alloc(16, 7), features: [], version: 'fidelity-test', arch: 'x' },
      originLocalIp: Buffer.alloc(0),
      replaceExisting: false,
      compressionQuality: 0,
      numPreviousAttempts: 0,
    },
  };
}
