import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentArgs, startAgent, startEdgeSim, type AgentProc, type EdgeSimProc } from '../helpers/stack.js';

/**
 * edge-sim's cache as Cloudflare's documentation describes it (../shared/cloudflare-cache.md), through
 * a real tunnel (the agent in --url mode) to an origin whose answers each test sets: every
 * CF-Cache-Status value reached, Age, the headers the edge reads (Cache-Control, s-maxage,
 * CDN-Cache-Control, Cloudflare-CDN-Cache-Control, Expires, Set-Cookie, Vary), revalidation, ranges,
 * the visitor's validators, HEAD, LRU eviction, and the purge API by each selector.
 */
interface Answer {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** answer 304 to a matching If-None-Match */
  etag?: string;
}

const TOKEN = 'cache-test-token';
const ZONE = 'cache.test';
const HOST = `www.${ZONE}`;

describe('the edge cache', () => {
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: http.Server;
  const answers = new Map<string, Answer>();
  /** requests the origin saw, by path with query: method and validators */
  const seen: Array<{ url: string; method: string; inm?: string; ims?: string; range?: string }> = [];
  const hits = (url: string) => seen.filter((s) => s.url === url).length;
  let zoneId: string;

  const visit = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await request(`${edge.publicUrl}${path}`, {
      method: method as 'GET',
      headers: { host: HOST, ...headers },
    });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body, cache: res.headers['cf-cache-status'] };
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await request(`${edge.apiUrl}/client/v4${path}`, {
      method: method as 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: res.statusCode,
      json: (await res.body.json()) as { success: boolean; result: unknown; errors: Array<{ code: number }> },
    };
  };
  const purge = (body: unknown) => api('POST', `/zones/${zoneId}/purge_cache`, body);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    origin = http.createServer((req, res) => {
      const url = req.url ?? '/';
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      seen.push({ url, method: req.method ?? '', inm, ims, range: req.headers.range });
      const a = answers.get(url.split('?')[0] as string) ?? { status: 404, body: 'no answer set' };
      if (a.etag !== undefined && inm === a.etag) {
        res.writeHead(304, { etag: a.etag, ...(a.headers ?? {}) }).end();
        return;
      }
      res.writeHead(a.status ?? 200, {
        ...(a.etag === undefined ? {} : { etag: a.etag }),
        ...(a.headers ?? {}),
      });
      res.end(req.method === 'HEAD' ? undefined : (a.body ?? `body of ${url}`));
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    edge = await startEdgeSim({
      tunnels: ['c'],
      routes: [`${HOST}=c`, `other.${ZONE}=c`],
      extra: [
        '--api-token',
        TOKEN,
        '--zone',
        ZONE,
        '--cache-size',
        '2m',
        '--cache-everything',
        `other.${ZONE}`,
      ],
    });
    agent = await startAgent(agentArgs(edge, 'c', `http://127.0.0.1:${port}`, ['--ha-connections', '1']), {
      waitReady: 1,
    });
    const zones = await api('GET', `/zones?name=${ZONE}`);
    zoneId = (zones.json.result as Array<{ id: string }>)[0]!.id;
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    origin?.closeAllConnections();
    await new Promise((r) => origin?.close(r));
  });

  it('caches a default extension: MISS, then HIT with Age; HTML and JSON are DYNAMIC', async () => {
    answers.set('/app.css', { body: 'body{}', headers: { 'content-type': 'text/css' } });
    expect((await visit('/app.css')).cache).toBe('MISS');
    const hit = await visit('/app.css');
    expect(hit).toMatchObject({ status: 200, body: 'body{}', cache: 'HIT' });
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(0);
    expect(hits('/app.css')).toBe(1);
    answers.set('/page.html', { body: '<p>hi</p>' });
    expect((await visit('/page.html')).cache).toBe('DYNAMIC');
    expect((await visit('/page.html')).cache).toBe('DYNAMIC');
    expect(hits('/page.html')).toBe(2);
    // A "Cache Everything" host: HTML too.
    expect((await visit('/page.html', { host: `other.${ZONE}` })).cache).toBe('MISS');
    expect((await visit('/page.html', { host: `other.${ZONE}` })).cache).toBe('HIT');
    // Every query string is its own object.
    expect((await visit('/app.css?v=2')).cache).toBe('MISS');
  });

  it('bypasses what the origin forbids: private, no-store, Set-Cookie, Vary: *', async () => {
    for (const [name, headers] of [
      ['private', { 'cache-control': 'private, max-age=60' }],
      ['nostore', { 'cache-control': 'no-store' }],
      ['cookie', { 'set-cookie': 'a=1' }],
      ['varystar', { vary: '*' }],
    ] as const) {
      answers.set(`/${name}.js`, { headers });
      const first = await visit(`/${name}.js`);
      expect(first.cache, name).toBe('BYPASS');
      expect((await visit(`/${name}.js`)).cache, name).toBe('BYPASS');
      expect(hits(`/${name}.js`), name).toBe(2);
    }
    expect((await visit('/cookie.js')).headers['set-cookie']).toBe('a=1');
  });

  it('reads s-maxage over max-age, CDN-Cache-Control and Cloudflare-CDN-Cache-Control over Cache-Control', async () => {
    answers.set('/s.js', { headers: { 'cache-control': 'max-age=0, s-maxage=60' } });
    answers.set('/cdn.js', { headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' } });
    answers.set('/cfcdn.js', {
      headers: {
        'cache-control': 'no-store',
        'cloudflare-cdn-cache-control': 'max-age=60',
        'cache-tag': 'x',
      },
    });
    answers.set('/expires.js', { headers: { expires: new Date(Date.now() + 60_000).toUTCString() } });
    for (const p of ['/s.js', '/cdn.js', '/cfcdn.js', '/expires.js']) {
      expect((await visit(p)).cache, p).toBe('MISS');
      expect((await visit(p)).cache, p).toBe('HIT');
    }
    const cf = await visit('/cfcdn.js');
    // Cloudflare-CDN-Cache-Control and Cache-Tag stop at the edge; Cache-Control goes on.
    expect(cf.headers['cloudflare-cdn-cache-control']).toBeUndefined();
    expect(cf.headers['cache-tag']).toBeUndefined();
    expect(cf.headers['cache-control']).toBe('no-store');
  });

  it('revalidates an expired object: REVALIDATED on 304, EXPIRED on new content, no-cache every time', async () => {
    answers.set('/v.js', { headers: { 'cache-control': 'max-age=1' }, etag: '"v1"', body: 'one' });
    expect((await visit('/v.js')).cache).toBe('MISS');
    await sleep(1100);
    const again = await visit('/v.js');
    expect(again).toMatchObject({ cache: 'REVALIDATED', body: 'one' });
    expect(seen.filter((s) => s.url === '/v.js').at(-1)?.inm).toBe('"v1"');
    expect((await visit('/v.js')).cache).toBe('HIT');
    answers.set('/v.js', { headers: { 'cache-control': 'max-age=1' }, etag: '"v2"', body: 'two' });
    await sleep(1100);
    expect(await visit('/v.js')).toMatchObject({ cache: 'EXPIRED', body: 'two' });
    expect((await visit('/v.js')).cache).toBe('HIT');
    answers.set('/nc.js', { headers: { 'cache-control': 'no-cache' }, etag: '"n"' });
    expect((await visit('/nc.js')).cache).toBe('MISS');
    expect((await visit('/nc.js')).cache).toBe('REVALIDATED');
    expect((await visit('/nc.js')).cache).toBe('REVALIDATED');
    expect(hits('/nc.js')).toBe(3);
  });

  it('serves stale: UPDATING within stale-while-revalidate, STALE within stale-if-error', async () => {
    answers.set('/swr.js', {
      headers: { 'cache-control': 'max-age=1, stale-while-revalidate=60' },
      body: 'old',
    });
    await visit('/swr.js');
    answers.set('/swr.js', { headers: { 'cache-control': 'max-age=60' }, body: 'new' });
    await sleep(1100);
    expect(await visit('/swr.js')).toMatchObject({ cache: 'UPDATING', body: 'old' });
    await sleep(300);
    expect(await visit('/swr.js')).toMatchObject({ cache: 'HIT', body: 'new' });
    answers.set('/sie.js', { headers: { 'cache-control': 'max-age=1, stale-if-error=60' }, body: 'kept' });
    await visit('/sie.js');
    answers.set('/sie.js', { status: 503, body: 'down' });
    await sleep(1100);
    expect(await visit('/sie.js')).toMatchObject({ status: 200, cache: 'STALE', body: 'kept' });
  });

  it('answers ranges, validators and HEAD from the stored object', async () => {
    answers.set('/r.bin', { body: '0123456789', etag: '"r"', headers: { 'cache-control': 'max-age=60' } });
    expect((await visit('/r.bin', { range: 'bytes=2-4' })).status).toBe(206);
    // The miss fetched the whole object, without the Range.
    expect(seen.filter((s) => s.url === '/r.bin').every((s) => s.range === undefined)).toBe(true);
    const part = await visit('/r.bin', { range: 'bytes=2-4' });
    expect(part).toMatchObject({ status: 206, body: '234', cache: 'HIT' });
    expect(part.headers['content-range']).toBe('bytes 2-4/10');
    expect((await visit('/r.bin', { range: 'bytes=-3' })).body).toBe('789');
    const bad = await visit('/r.bin', { range: 'bytes=20-' });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe('bytes */10');
    expect((await visit('/r.bin', { range: 'bytes=0-1,5-6' })).status).toBe(200);
    expect((await visit('/r.bin', { 'if-none-match': '"r"' })).status).toBe(304);
    const head = await visit('/r.bin', {}, 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '', cache: 'HIT' });
    expect(head.headers['content-length']).toBe('10');
    answers.set('/h.js', { body: 'headed' });
    expect((await visit('/h.js', {}, 'HEAD')).cache).toBe('MISS');
    expect(seen.filter((s) => s.url === '/h.js').map((s) => s.method)).toEqual(['GET']);
    expect(await visit('/h.js')).toMatchObject({ cache: 'HIT', body: 'headed' });
  });

  it('keeps a variant per encoding when the origin varies on Accept-Encoding', async () => {
    answers.set('/enc.js', { headers: { vary: 'Accept-Encoding' } });
    expect((await visit('/enc.js', { 'accept-encoding': 'gzip' })).cache).toBe('MISS');
    expect((await visit('/enc.js', { 'accept-encoding': 'gzip' })).cache).toBe('HIT');
    expect((await visit('/enc.js', { 'accept-encoding': 'br' })).cache).toBe('MISS');
    expect((await visit('/enc.js', { 'accept-encoding': 'br, gzip' })).cache).toBe('HIT');
  });

  it('purges by file, prefix, host, tag and everything, within the zone, under the limits', async () => {
    const stored = async (paths: string[]) => {
      for (const p of paths) await visit(p);
      for (const p of paths) expect((await visit(p)).cache, p).toBe('HIT');
    };
    for (const p of ['/p/a.js', '/p/b.js', '/q/c.js', '/t.js'])
      answers.set(p, { headers: { 'cache-tag': p === '/t.js' ? 'Release-1, other' : 'plain' } });
    await stored(['/p/a.js', '/p/b.js', '/q/c.js', '/t.js']);
    const files = await purge({ files: [`https://${HOST}/p/a.js`] });
    expect(files).toMatchObject({ status: 200, json: { success: true, result: { id: zoneId } } });
    expect((await visit('/p/a.js')).cache).toBe('MISS');
    expect((await visit('/p/b.js')).cache).toBe('HIT');
    await purge({ prefixes: [`${HOST}/p/`] });
    expect((await visit('/p/b.js')).cache).toBe('MISS');
    expect((await visit('/q/c.js')).cache).toBe('HIT');
    await purge({ tags: ['release-1'] });
    expect((await visit('/t.js')).cache).toBe('MISS');
    expect((await visit('/q/c.js')).cache).toBe('HIT');
    await purge({ hosts: [HOST] });
    expect((await visit('/q/c.js')).cache).toBe('MISS');
    await stored(['/q/c.js']);
    await purge({ purge_everything: true });
    expect((await visit('/q/c.js')).cache).toBe('MISS');
    // Cloudflare's envelope for what it refuses.
    expect((await purge({ hosts: [] })).status).toBe(400);
    expect((await purge({ hosts: [HOST], tags: ['a'] })).status).toBe(400);
    expect((await purge({ prefixes: [`https://${HOST}/p`] })).status).toBe(400);
    expect((await purge({ files: Array.from({ length: 101 }, (_, i) => `${HOST}/${i}`) })).status).toBe(400);
    const other = await api('POST', `/zones/${'0'.repeat(32)}/purge_cache`, { purge_everything: true });
    expect(other.status).toBe(404);
    // 25 host/tag/prefix/everything purges in a burst, then 429 (the Free plan's bucket).
    let limited = 0;
    for (let i = 0; i < 30; i++) if ((await purge({ hosts: [HOST] })).status === 429) limited++;
    expect(limited).toBeGreaterThan(0);
  });

  it('evicts the least recently used object past --cache-size', async () => {
    const big = 'x'.repeat(400 * 1024);
    for (const n of [1, 2, 3, 4, 5, 6]) answers.set(`/big${n}.bin`, { body: big });
    await visit('/big1.bin');
    for (const n of [2, 3, 4, 5, 6]) {
      await visit(`/big${n}.bin`);
      await visit('/big1.bin');
    }
    // big1 kept in use stays; big2, the least recently used, went (2 MiB hold four such objects).
    expect((await visit('/big1.bin')).cache).toBe('HIT');
    expect((await visit('/big2.bin')).cache).toBe('MISS');
  });
});
