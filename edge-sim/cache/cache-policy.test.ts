import { describe, expect, it } from 'vitest';
import { rangeOf } from './byte-range.js';
import { cacheTags, decide, eligible } from './cache-policy.js';

const values = (h: Record<string, string | string[]>) => (name: string) => {
  const v = h[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};
const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('cache policy (../shared/cloudflare-cache.md)', () => {
  it('takes GET and HEAD of the default extensions only, without case, robots.txt too', () => {
    expect(eligible('GET', '/a/b.CSS?x=1', false)).toBe(true);
    expect(eligible('HEAD', '/logo.png', false)).toBe(true);
    expect(eligible('GET', '/robots.txt', false)).toBe(true);
    expect(eligible('GET', '/index.html', false)).toBe(false);
    expect(eligible('GET', '/api.json', false)).toBe(false);
    expect(eligible('GET', '/', false)).toBe(false);
    expect(eligible('POST', '/a.css', false)).toBe(false);
    expect(eligible('GET', '/index.html', true)).toBe(true);
  });

  it('decides BYPASS, TTLs and revalidation as the docs say', () => {
    const d = (h: Record<string, string | string[]>, status = 200, auth = false) =>
      decide(status, values(h), auth, NOW);
    expect(d({ 'cache-control': 'private' })).toEqual({ store: false, status: 'BYPASS' });
    expect(d({ 'cache-control': 'no-store' })).toEqual({ store: false, status: 'BYPASS' });
    expect(d({ 'set-cookie': 'a=1' })).toEqual({ store: false, status: 'BYPASS' });
    expect(d({ vary: 'Accept, *' })).toEqual({ store: false, status: 'BYPASS' });
    expect(d({}, 200, true)).toEqual({ store: false, status: 'BYPASS' });
    expect(d({ 'cache-control': 'public' }, 200, true)).toMatchObject({ store: true });
    expect(d({})).toMatchObject({ store: true, ttlMs: 7200_000 });
    expect(d({}, 302)).toMatchObject({ store: true, ttlMs: 1200_000 });
    expect(d({}, 404)).toMatchObject({ store: true, ttlMs: 180_000 });
    expect(d({ 'cache-control': 'max-age=60' }, 500)).toEqual({ store: false, status: 'MISS' });
    expect(d({ 'cache-control': 'max-age=7200, s-maxage=3600' })).toMatchObject({ ttlMs: 3600_000 });
    expect(d({ 'cache-control': 'max-age=10', expires: new Date(NOW + 99_000).toUTCString() })).toMatchObject(
      { ttlMs: 10_000 },
    );
    expect(d({ expires: new Date(NOW + 99_000).toUTCString() })).toMatchObject({ ttlMs: 99_000 });
    expect(d({ expires: new Date(NOW - 1000).toUTCString() })).toEqual({ store: false, status: 'BYPASS' });
    expect(d({ 'cache-control': 'no-cache' })).toMatchObject({ store: true, revalidateAlways: true });
    expect(d({ 'cache-control': 'max-age=0' })).toMatchObject({ store: true, revalidateAlways: true });
    // A CDN header wins, and Cache-Control then does not count.
    expect(d({ 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=5' })).toMatchObject({
      ttlMs: 5000,
    });
    expect(d({ 'cdn-cache-control': 'no-store', 'cloudflare-cdn-cache-control': 'max-age=7' })).toMatchObject(
      { ttlMs: 7000 },
    );
    // stale-while-revalidate and stale-if-error, off where the docs turn them off.
    expect(d({ 'cache-control': 'max-age=1, stale-while-revalidate=30, stale-if-error=60' })).toMatchObject({
      swrMs: 30_000,
      sieMs: 60_000,
    });
    expect(d({ 'cache-control': 'max-age=1, must-revalidate, stale-while-revalidate=30' })).toMatchObject({
      swrMs: 0,
    });
    expect(d({ 'cache-control': 's-maxage=1, stale-if-error=30' })).toMatchObject({ sieMs: 0 });
  });

  it('reads Cache-Tag as Cloudflare does: commas, several lines, no empties, no case', () => {
    expect(cacheTags(['A, b,,', ' c ', 'a'])).toEqual(['a', 'b', 'c']);
  });

  it('answers Range from a whole object: one range, clipped; 416 where Cloudflare says; 200 otherwise', () => {
    expect(rangeOf(undefined, 10)).toEqual({ kind: 'whole' });
    expect(rangeOf('bytes=2-4', 10)).toEqual({ kind: 'partial', start: 2, end: 4 });
    expect(rangeOf('bytes=5-99', 10)).toEqual({ kind: 'partial', start: 5, end: 9 });
    expect(rangeOf('bytes=-3', 10)).toEqual({ kind: 'partial', start: 7, end: 9 });
    expect(rangeOf('bytes=-30', 10)).toEqual({ kind: 'partial', start: 0, end: 9 });
    for (const bad of ['bytes=', 'bytes=-0', 'bytes=5-2', 'bytes=10-'])
      expect(rangeOf(bad, 10), bad).toEqual({ kind: 'unsatisfiable' });
    expect(rangeOf('bytes=0-1', 0)).toEqual({ kind: 'unsatisfiable' });
    for (const ignored of ['items=0-1', 'bytes=a-b', 'bytes=0-1,3-4', 'bytes=9999999999999999-'])
      expect(rangeOf(ignored, 10), ignored).toEqual({ kind: 'whole' });
  });
});
