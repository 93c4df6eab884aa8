import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTunnelError } from '../errors.js';
import {
  FRAME_TRAILERS,
  MAX_TRAILERS_BYTES,
  TrailersDeframer,
  dataFrameHeader,
  trailersFrame,
} from './trailers-framing.js';

/**
 * The QUIC trailers extension's body framing, as the edge reads it: bodies and trailers come through
 * whole however the bytes are split; anything malformed is a typed error, never a hang or an untyped
 * throw, and a huge trailers frame is refused before it is allocated.
 */
interface Outcome {
  body: Buffer;
  trailers: Record<string, string | string[]> | null;
  error: unknown;
}

function deframe(chunks: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const d = new TrailersDeframer();
    const parts: Buffer[] = [];
    const out: Outcome = { body: Buffer.alloc(0), trailers: null, error: null };
    d.on('data', (c: Buffer) => parts.push(c));
    d.on('trailers', (t: Record<string, string | string[]>) => (out.trailers = t));
    const done = () => resolve({ ...out, body: Buffer.concat(parts) });
    d.on('end', done);
    d.on('error', (err) => {
      out.error = err;
      done();
    });
    for (const c of chunks) d.write(c);
    d.end();
  });
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out.filter((b) => b.length > 0);
}

const encode = (bodies: Buffer[], trailers: Array<[string, string]> | null) =>
  Buffer.concat([
    ...bodies.flatMap((b) => [dataFrameHeader(b.length), b]),
    ...(trailers === null ? [] : [trailersFrame(trailers.flat())]),
  ]);

describe('QUIC trailers framing', () => {
  it('gives back the body and the trailers however the bytes are split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }),
        fc.option(
          fc.array(fc.tuple(fc.constantFrom('grpc-status', 'grpc-message', 'x-t'), fc.string()), {
            maxLength: 4,
          }),
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (bodies, trailers, cuts) => {
          const bufs = bodies.map((b) => Buffer.from(b));
          const got = await deframe(split(encode(bufs, trailers), cuts));
          expect(got.error).toBeNull();
          expect(got.body.equals(Buffer.concat(bufs))).toBe(true);
          if (trailers === null) {
            expect(got.trailers).toBeNull();
          } else {
            const want: Record<string, string[]> = {};
            for (const [k, v] of trailers) (want[k] ??= []).push(v);
            const flat = Object.fromEntries(
              Object.entries(got.trailers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
            );
            expect(flat).toEqual(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('random and mutated input: only typed errors, always an end', async () => {
    const valid = encode([Buffer.from('hello')], [['grpc-status', '0']]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
            const b = Buffer.from(valid);
            b[at] = byte;
            return b;
          }),
          fc.nat({ max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
        ),
        async (bytes) => {
          const got = await deframe([bytes]);
          if (got.error !== null) expect(isTunnelError(got.error)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses an oversized trailers frame from its header alone', async () => {
    const h = Buffer.alloc(5);
    h[0] = FRAME_TRAILERS;
    h.writeUInt32BE(MAX_TRAILERS_BYTES + 1, 1);
    const got = await deframe([h]);
    expect(isTunnelError(got.error, 'TRAILERS_FRAMING_INVALID')).toBe(true);
  });

  it('refuses a frame after the trailers, and an unknown frame type', async () => {
    const after = await deframe([encode([], [['a', 'b']]), dataFrameHeader(1), Buffer.from('x')]);
    expect(isTunnelError(after.error, 'TRAILERS_FRAMING_INVALID')).toBe(true);
    const unknown = await deframe([Buffer.from([7, 0, 0, 0, 0])]);
    expect(isTunnelError(unknown.error, 'TRAILERS_FRAMING_INVALID')).toBe(true);
  });
});
