import { describe, expect, it } from 'vitest';
import { ROUND_ROBIN } from './load-balancer.js';
import { Upstream, UpstreamRegistry, readyEndpoints, upstreamKey } from './upstreams.js';
import type { EndpointSlice } from './types.js';

const slice = (
  endpoints: EndpointSlice['endpoints'],
  ports = [{ name: 'http', port: 8080 }],
): EndpointSlice => ({
  addressType: 'IPv4',
  ports,
  endpoints,
});

describe('endpoints from EndpointSlices', () => {
  it('takes only ready, serving, not terminating endpoints (absent conditions mean ready)', () => {
    const eps = readyEndpoints(
      [
        slice([
          { addresses: ['127.0.0.1'], conditions: { ready: true } },
          { addresses: ['127.0.0.2'] },
          { addresses: ['127.0.0.3'], conditions: { ready: false } },
          { addresses: ['127.0.0.4'], conditions: { ready: true, terminating: true } },
          { addresses: ['127.0.0.5'], conditions: { serving: false } },
        ]),
        slice([{ addresses: ['127.0.0.1'] }]),
      ],
      'http',
    );
    expect(eps.map((e) => e.origin)).toEqual(['http://127.0.0.1:8080', 'http://127.0.0.2:8080']);
  });

  it('uses the port of the matching name and brackets IPv6', () => {
    const s: EndpointSlice = {
      addressType: 'IPv6',
      ports: [{ name: '', port: 9 }],
      endpoints: [{ addresses: ['::1'] }],
    };
    expect(readyEndpoints([s], '').map((e) => e.origin)).toEqual(['http://[::1]:9']);
    expect(readyEndpoints([s], 'http')).toEqual([]);
  });

  it("swaps an upstream's endpoints in place and round-robins over them", () => {
    const reg = new UpstreamRegistry();
    const key = upstreamKey('ns', 'svc', 'http');
    const u = new Upstream('ns', 'svc', 'http', 80);
    reg.apply(new Map([[key, { key, upstream: u, policy: ROUND_ROBIN }]]), () => [
      slice([{ addresses: ['127.0.0.1'] }, { addresses: ['127.0.0.2'] }]),
    ]);
    expect([u.next()?.address, u.next()?.address, u.next()?.address]).toEqual([
      '127.0.0.1',
      '127.0.0.2',
      '127.0.0.1',
    ]);
    reg.refresh('ns', 'svc', []);
    expect(u.next()).toBeNull();
    expect(reg.existing(key)).toBe(u);
    reg.apply(new Map(), () => []);
    expect(reg.existing(key)).toBeUndefined();
  });
});

describe('passive health', () => {
  const eps = ['a', 'b', 'c'].map((x, i) => ({
    origin: `http://${x}:80`,
    tlsOrigin: `https://${x}:80`,
    address: `10.0.0.${i}`,
    port: 80,
  }));
  const make = () => {
    const u = new Upstream('ns', 'svc', 'http', 80);
    u.setEndpoints(eps);
    return u;
  };
  const picks = (u: Upstream, n: number, now: number) =>
    new Set(Array.from({ length: n }, () => u.next(undefined, now)?.origin));

  it('ejects an endpoint after 5 consecutive connect failures for 30 s, doubling on repeat', () => {
    const u = make();
    for (let i = 0; i < 4; i++) u.connectFailed('http://a:80', 0);
    expect(picks(u, 6, 0)).toContain('http://a:80');
    u.connectFailed('http://a:80', 0);
    expect(picks(u, 6, 1)).not.toContain('http://a:80');
    expect(u.ejected(1)).toEqual(['http://a:80']);
    expect(picks(u, 6, 30_001)).toContain('http://a:80');
    for (let i = 0; i < 5; i++) u.connectFailed('http://a:80', 40_000);
    expect(picks(u, 6, 40_000 + 59_999)).not.toContain('http://a:80');
    expect(picks(u, 6, 40_000 + 60_001)).toContain('http://a:80');
  });

  it('a success resets the count; never ejects them all; skips endpoints already tried', () => {
    const u = make();
    for (let i = 0; i < 4; i++) u.connectFailed('http://b:80', 0);
    u.connected('http://b:80');
    u.connectFailed('http://b:80', 0);
    expect(u.ejected(0)).toEqual([]);
    for (const e of eps) for (let i = 0; i < 5; i++) u.connectFailed(e.origin, 0);
    expect(u.next(undefined, 1)).not.toBeNull();
    const fresh = make();
    const tried = new Set(['http://a:80', 'http://b:80']);
    for (let i = 0; i < 5; i++) expect(fresh.next(tried)?.origin).toBe('http://c:80');
    expect(fresh.next(new Set(eps.map((e) => e.origin)))).toBeNull();
  });

  it('forgets the health of endpoints that left', () => {
    const u = make();
    for (let i = 0; i < 5; i++) u.connectFailed('http://a:80', 0);
    u.setEndpoints(eps.slice(1));
    u.setEndpoints(eps);
    expect(u.ejected(1)).toEqual([]);
  });
});
