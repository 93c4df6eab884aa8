import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTunnelError } from './errors.js';
import { canonicalHeaderName, packHeaders, unpackHeaders } from './header-packing.js';

describe('Cf-Cloudflared-Response-Headers packing', () => {
  it('uses unpadded standard base64 pairs joined by ;', () => {
    expect(packHeaders(['Content-Type', 'text/html', 'Set-Cookie', 'a=1'])).toBe(
      'Q29udGVudC1UeXBl:dGV4dC9odG1s;U2V0LUNvb2tpZQ:YT0x',
    );
  });

  it('leaves out the tunnel-internal names', () => {
    expect(packHeaders([':status', '200', 'Cf-Int-X', '1', 'cf-cloudflared-y', '2', 'Cf-Proxy-Z', '3'])).toBe(
      '',
    );
  });

  it('round-trips odd names and values, repeated headers in order', () => {
    const pairs: Array<[string, string]> = [
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2'],
      ['X-Colon', 'a:b:c'],
      ['X-Semi', ';;;'],
      ['X-Empty', ''],
      ['X-Unicode', 'naïve ✓ 日本'],
      ['X-Base64-Looking', '+/=='],
    ];
    expect(unpackHeaders(packHeaders(pairs.flat()))).toEqual(pairs);
  });

  it('round-trips any strings', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.string({ minLength: 1 }).filter((s) => !/^(:|cf-int-|cf-cloudflared-|cf-proxy-)/i.test(s)),
            fc.string(),
          ),
        ),
        (pairs) => {
          const back = unpackHeaders(packHeaders(pairs.flat()));
          expect(back).toEqual(pairs.map(([n, v]) => [Buffer.from(n).toString(), Buffer.from(v).toString()]));
        },
      ),
    );
  });

  it('skips empty pieces and rejects malformed pairs with a typed error', () => {
    expect(unpackHeaders(';;')).toEqual([]);
    expect(unpackHeaders('')).toEqual([]);
    for (const bad of ['abc', 'a:b:c', 'a!:b', 'Q:x']) {
      try {
        unpackHeaders(bad);
        expect.unreachable();
      } catch (err) {
        expect(isTunnelError(err, 'HEADER_PACKING_INVALID')).toBe(true);
      }
    }
  });

  it('canonicalizes like Go', () => {
    expect(canonicalHeaderName('content-type')).toBe('Content-Type');
    expect(canonicalHeaderName('sec-websocket-accept')).toBe('Sec-Websocket-Accept');
    expect(canonicalHeaderName('X-FOO-bar')).toBe('X-Foo-Bar');
  });
});
