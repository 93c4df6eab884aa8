import { describe, expect, it } from 'vitest';
import { UpstreamRegistry, readyEndpoints } from './upstreams.js';
import type { EndpointSlice } from './routing/types.js';

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
    const u = reg.get('ns', 'svc', 'http', 80, () => [
      slice([{ addresses: ['127.0.0.1'] }, { addresses: ['127.0.0.2'] }]),
    ]);
    expect([u.next()?.address, u.next()?.address, u.next()?.address]).toEqual([
      '127.0.0.1',
      '127.0.0.2',
      '127.0.0.1',
    ]);
    reg.refresh('ns', 'svc', []);
    expect(u.next()).toBeNull();
    expect(reg.get('ns', 'svc', 'http', 80, () => [])).toBe(u);
  });
});
