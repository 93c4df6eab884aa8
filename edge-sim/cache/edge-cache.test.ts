import { describe, expect, it } from 'vitest';
import { EdgeCache, purgeUrl, type CachedObject } from './edge-cache.js';

function obj(url: string, extra: Partial<CachedObject> = {}): CachedObject {
  const slash = url.indexOf('/');
  return {
    key: url,
    host: url.slice(0, slash),
    url,
    keyHeaders: {},
    status: 200,
    headers: [],
    body: Buffer.alloc(100),
    tags: [],
    storedAt: 0,
    freshUntil: 1,
    revalidateAlways: false,
    swrMs: 0,
    sieMs: 0,
    etag: null,
    lastModified: null,
    ...extra,
  };
}

describe('EdgeCache', () => {
  it('evicts the least recently used past its bytes, and never stores an object over a quarter', () => {
    const c = new EdgeCache(8 * 1024);
    for (const n of [1, 2, 3, 4, 5])
      c.set(obj(`a.test/${n}`, { body: Buffer.alloc(900) }), `a.test/${n}`, false);
    expect(c.get('a.test/1')).toBeDefined();
    for (const n of [6, 7]) c.set(obj(`a.test/${n}`, { body: Buffer.alloc(900) }), `a.test/${n}`, false);
    expect(c.get('a.test/1')).toBeDefined();
    expect(c.get('a.test/2')).toBeUndefined();
    expect(c.usedBytes).toBeLessThanOrEqual(8 * 1024);
    c.set(obj('a.test/huge', { body: Buffer.alloc(2000) }), 'a.test/huge', false);
    expect(c.get('a.test/huge')).toBeUndefined();
  });

  it('keeps variants by encoding under one base key, and drops them when the object stops varying', () => {
    const c = new EdgeCache(1 << 20);
    c.set(obj('a.test/x.js', { key: 'a.test/x.js|ae=gzip' }), 'a.test/x.js', true);
    c.set(obj('a.test/x.js', { key: 'a.test/x.js|ae=br' }), 'a.test/x.js', true);
    expect(c.lookupKey('a.test/x.js', 'gzip')).toBe('a.test/x.js|ae=gzip');
    expect(c.size).toBe(2);
    c.set(obj('a.test/x.js'), 'a.test/x.js', false);
    expect(c.lookupKey('a.test/x.js', 'gzip')).toBe('a.test/x.js');
    expect(c.size).toBe(1);
  });

  it('purges by file (with key headers), prefix, host, tag and everything, within a zone', () => {
    const c = new EdgeCache(1 << 20);
    const fill = () => {
      c.purge({ everything: true });
      c.set(obj('a.test/p/1.js', { tags: ['t1'] }), 'a.test/p/1.js', false);
      c.set(obj('a.test/p/2.js?v=1'), 'a.test/p/2.js?v=1', false);
      c.set(
        obj('a.test/q.js', {
          key: 'a.test/q.js|origin=https://o.test',
          keyHeaders: { origin: 'https://o.test' },
        }),
        'x',
        false,
      );
      c.set(obj('b.test/p/1.js', { tags: ['t1'] }), 'b.test/p/1.js', false);
    };
    fill();
    expect(c.purge({ files: [{ url: 'https://A.TEST/p/1.js', headers: {} }] })).toBe(1);
    expect(c.purge({ files: [{ url: 'a.test/q.js', headers: {} }] })).toBe(0);
    expect(c.purge({ files: [{ url: 'a.test/q.js', headers: { Origin: 'https://o.test' } }] })).toBe(1);
    fill();
    expect(c.purge({ prefixes: ['a.test/p/'] })).toBe(2);
    fill();
    expect(c.purge({ hosts: ['A.test'] })).toBe(3);
    fill();
    expect(c.purge({ tags: ['T1'] }, (o) => o.host === 'a.test')).toBe(1);
    expect(c.purge({ everything: true }, (o) => o.host === 'b.test')).toBe(1);
    expect(c.size).toBe(2);
    expect(purgeUrl('http://Www.Example.com/A?b')).toBe('www.example.com/A?b');
  });
});
