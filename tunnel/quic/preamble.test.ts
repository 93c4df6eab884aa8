import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTunnelError } from '../errors.js';
import { ConnectionType } from '../schema/quic-metadata.js';
import { connectRequestPreamble, readConnectRequest } from './preamble.js';

/**
 * Fuzzing the QUIC stream preamble reader, the first thing that reads bytes from a peer: random bytes,
 * and valid preambles cut, mutated or split at random, only ever give a ConnectRequest or a typed error,
 * promptly (a stream that ends early is an error, not a hang).
 */
const valid = connectRequestPreamble({
  dest: 'http://app.test/path?q=1',
  type: ConnectionType.Http,
  metadata: [
    { key: 'HttpMethod', val: 'GET' },
    { key: 'HttpHost', val: 'app.test' },
    { key: 'HttpHeader:Accept', val: '*/*' },
  ],
});

async function feed(chunks: Buffer[]): Promise<'ok' | 'typed' | string> {
  const s = new PassThrough();
  const result = readConnectRequest(s).then(
    () => 'ok' as const,
    (err: unknown) => (isTunnelError(err) ? ('typed' as const) : `untyped: ${String(err)}`),
  );
  for (const c of chunks) s.write(c);
  s.end();
  return result;
}

describe('QUIC preamble fuzz', () => {
  it('reads a valid preamble however it is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: valid.length - 1 }), { maxLength: 6 }),
        async (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let at = 0;
          for (const p of points) {
            chunks.push(valid.subarray(at, p));
            at = p;
          }
          chunks.push(valid.subarray(at));
          expect(await feed(chunks)).toBe('ok');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('only ever gives typed errors on random bytes, cut or mutated preambles', async () => {
    const mutated = fc
      .tuple(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 1, max: valid.length }),
      )
      .map(([at, byte, keep]) => {
        const b = Buffer.from(valid.subarray(0, keep));
        if (at < b.length) b[at] = byte;
        return b;
      });
    const withSignature = fc
      .uint8Array({ maxLength: 512 })
      .map((u) => Buffer.concat([valid.subarray(0, 8), Buffer.from(u)]));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((u) => Buffer.from(u)),
          mutated,
          withSignature,
        ),
        async (bytes) => {
          const r = await feed([bytes]);
          expect(r === 'ok' || r === 'typed').toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
