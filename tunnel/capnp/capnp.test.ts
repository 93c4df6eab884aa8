import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTunnelError } from '../errors.js';
import { decodeConnectRequest } from '../schema/quic-metadata.js';
import { MessageBuilder } from './builder.js';
import { FrameDecoder, decodeFrame } from './framing.js';
import { MessageReader } from './reader.js';

describe('framing', () => {
  it('decodes frames split at every byte boundary, leaving the rest', () => {
    const mb = new MessageBuilder();
    mb.initRoot(1, 1).setText(0, 'hello');
    const frame = Buffer.concat([mb.toFrame(), Buffer.from('BODY')]);
    for (let cut = 1; cut < frame.length; cut++) {
      const d = new FrameDecoder();
      d.push(frame.subarray(0, cut));
      let segs = d.next();
      if (segs === null) {
        d.push(frame.subarray(cut));
        segs = d.next();
      } else {
        d.push(frame.subarray(cut));
      }
      expect(segs).not.toBeNull();
      expect(new MessageReader(segs!).root().text(0)).toBe('hello');
      expect(d.takeRest().toString()).toBe('BODY');
    }
  });

  it('refuses frames over the limits before allocating', () => {
    const d = new FrameDecoder({ maxBytes: 1024 });
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0, 0);
    header.writeUInt32LE(1 << 20, 4);
    d.push(header);
    expect(() => d.next()).toThrow(/exceeds the limit/);
    const many = Buffer.alloc(8);
    many.writeUInt32LE(10_000, 0);
    const d2 = new FrameDecoder();
    d2.push(many);
    expect(() => d2.next()).toThrow(/segments/);
  });

  it('reads multi-segment messages through far pointers', () => {
    // Segment 0: root far pointer -> segment 1 word 0 (landing pad), pad points at a struct D1/P0.
    const seg0 = Buffer.alloc(8);
    seg0.writeUInt32LE((0 << 3) | 2, 0);
    seg0.writeUInt32LE(1, 4);
    const seg1 = Buffer.alloc(16);
    seg1.writeUInt32LE(0, 0); // struct pointer, offset 0
    seg1.writeUInt32LE(1, 4); // D1 P0
    seg1.writeUInt32LE(42, 8);
    expect(new MessageReader([seg0, seg1]).root().u32(0)).toBe(42);
  });
});

describe('reader safety', () => {
  it('only ever throws typed errors on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 256 }), (bytes) => {
        try {
          decodeConnectRequest(decodeFrame(Buffer.from(bytes)));
        } catch (err) {
          expect(isTunnelError(err)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('only ever throws typed errors on mutated valid messages', () => {
    const mb = new MessageBuilder();
    const root = mb.initRoot(1, 2);
    root.setText(0, 'https://a.example/');
    const list = root.initStructList(1, 3, 0, 2);
    list.forEach((el, i) => {
      el.setText(0, `HttpHeader:K${i}`);
      el.setText(1, `v${i}`);
    });
    const valid = mb.toFrame();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        (muts) => {
          const b = Buffer.from(valid);
          for (const [at, v] of muts) b[at] = v;
          try {
            decodeConnectRequest(decodeFrame(b));
          } catch (err) {
            expect(isTunnelError(err)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('stops a list of zero-sized structs from amplifying traversal', () => {
    const seg = Buffer.alloc(24);
    seg.writeUInt32LE(0, 0);
    seg.writeUInt32LE(0x00010000, 4); // root D0 P1
    seg.writeUInt32LE(1, 8); // list pointer offset 0 ...
    seg.writeUInt32LE((7 | (0 << 3)) >>> 0, 12); // composite, 0 words
    seg.writeUInt32LE((0x3fffffff << 2) >>> 0, 16); // tag: 1 Gi elements of size 0
    seg.writeUInt32LE(0, 20);
    const msg = new MessageReader([seg], { traversalLimitWords: 1000 });
    expect(() => msg.root().list(0)).toThrow(/traversal limit/);
  });
});
