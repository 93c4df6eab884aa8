import { describe, expect, it } from 'vitest';
import { MAGLEV_SIZE, hashKey, keyHash, maglevTable, parsePolicy } from './load-balancer.js';
import { Upstream } from './upstreams.js';

const origins = (n: number) => Array.from({ length: n }, (_, i) => `http://10.0.0.${i}:8080`);
const endpoints = (list: string[]) =>
  list.map((origin, i) => ({
    origin,
    tlsOrigin: origin.replace('http:', 'https:'),
    address: `10.0.0.${i}`,
    port: 8080,
  }));

describe('load-balance policies', () => {
  it('parses the annotation values and refuses others', () => {
    expect(parsePolicy('round-robin')).toEqual({ kind: 'round-robin' });
    expect(parsePolicy('least-request')).toEqual({ kind: 'least-request' });
    expect(parsePolicy('hash:header:X-User')).toEqual({ kind: 'hash', source: 'header', name: 'x-user' });
    expect(parsePolicy('hash:cookie:session')).toEqual({ kind: 'hash', source: 'cookie', name: 'session' });
    expect(parsePolicy('hash:client-ip')).toMatchObject({ kind: 'hash', source: 'client-ip' });
    for (const bad of ['', 'random', 'hash:', 'hash:header:', 'hash:body:x', 'hash:header:a b'])
      expect(parsePolicy(bad)).toBeNull();
  });

  it('reads the key from a header, a cookie or the client address', () => {
    expect(hashKey(parsePolicy('hash:header:x-user')!, { 'x-user': 'ann' })).toBe('ann');
    expect(hashKey(parsePolicy('hash:cookie:sid')!, { cookie: 'a=1; sid=xyz; b=2' })).toBe('xyz');
    expect(hashKey(parsePolicy('hash:client-ip')!, { 'cf-connecting-ip': '192.0.2.9' })).toBe('192.0.2.9');
    expect(hashKey(parsePolicy('hash:cookie:sid')!, {})).toBeUndefined();
  });
});

describe('Maglev', () => {
  it('fills all 65,537 entries, evenly', () => {
    const t = maglevTable(origins(7));
    expect(t.length).toBe(MAGLEV_SIZE);
    const counts = new Array(7).fill(0);
    for (const x of t) counts[x]++;
    for (const c of counts) expect(Math.abs(c - MAGLEV_SIZE / 7)).toBeLessThan(MAGLEV_SIZE / 7 / 100);
  });

  it('moves about 1/N of keys when one of N endpoints leaves', () => {
    for (const n of [3, 5, 10]) {
      const all = origins(n);
      const before = maglevTable(all);
      const gone = all[1] as string;
      const rest = all.filter((o) => o !== gone);
      const after = maglevTable(rest);
      let moved = 0;
      const keys = 20_000;
      for (let k = 0; k < keys; k++) {
        const slot = keyHash(`user-${k}`) % MAGLEV_SIZE;
        if (all[before[slot] as number] !== rest[after[slot] as number]) moved++;
      }
      // Those on the endpoint that left must move (1/N); Maglev moves only a few more.
      expect(moved / keys).toBeGreaterThan(1 / n - 0.02);
      expect(moved / keys).toBeLessThan(1 / n + 0.03);
    }
  });

  it('keeps a key on its endpoint through an Upstream, and falls back without a key', () => {
    const u = new Upstream('ns', 'svc', 'http', 80);
    u.setPolicy(parsePolicy('hash:header:x-user')!);
    u.setEndpoints(endpoints(origins(4)));
    const first = u.pick({ 'x-user': 'ann' })?.origin;
    for (let i = 0; i < 20; i++) expect(u.pick({ 'x-user': 'ann' })?.origin).toBe(first);
    const seen = new Set(Array.from({ length: 8 }, () => u.pick({})?.origin));
    expect(seen.size).toBe(4);
  });
});

describe('least-request', () => {
  it('prefers the endpoint with fewer requests in flight', () => {
    const u = new Upstream('ns', 'svc', 'http', 80);
    u.setPolicy(parsePolicy('least-request')!);
    const list = origins(2);
    u.setEndpoints(endpoints(list));
    for (let i = 0; i < 10; i++) u.acquire(list[0] as string);
    let busy = 0;
    for (let i = 0; i < 200; i++) if (u.pick()?.origin === list[0]) busy++;
    // Only when both choices land on the busy one: about a quarter of the time at most.
    expect(busy).toBeLessThan(80);
    for (let i = 0; i < 10; i++) u.release(list[0] as string);
  });
});
