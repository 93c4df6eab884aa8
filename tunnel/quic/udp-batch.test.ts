import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { packetSender, udpSendMode } from './udp-batch.js';

/**
 * Both ways of sending QUIC packets, over real UDP sockets on 127.0.0.1: every packet arrives, whole,
 * connected or addressed, also past one batch's worth. The addon is built by `npm install`
 * (scripts/build-native.mjs), so here it must have loaded.
 */
const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function socket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

async function roundTrip(
  mode: 'sendmmsg' | 'dgram',
  connected: boolean,
  count: number,
  size: (i: number) => number = (i) => 100 + (i % 7) * 150,
): Promise<Buffer[]> {
  const rx = await socket();
  // Nothing is read until the sends are done: the receive buffer holds them all (as QUIC's sockets ask).
  rx.setRecvBufferSize(4 * 1024 * 1024);
  const tx = await socket();
  const port = rx.address().port;
  if (connected) await new Promise<void>((r) => tx.connect(port, '127.0.0.1', r));
  const got: Buffer[] = [];
  const all = new Promise<void>((resolve) =>
    rx.on('message', (m) => {
      got.push(m);
      if (got.length === count) resolve();
    }),
  );
  const out = packetSender(tx, connected ? null : { host: '127.0.0.1', port }, mode);
  for (let i = 0; i < count; i++) {
    const b = out.next();
    const len = size(i);
    b.fill(i % 256, 0, len);
    b.writeUInt32BE(i, 0);
    out.push(len);
  }
  out.send();
  await all;
  return got;
}

describe('QUIC packet senders', () => {
  it('has the sendmmsg addon loaded where npm install built it', () => {
    expect(udpSendMode()).toBe('sendmmsg');
  });

  for (const mode of ['sendmmsg', 'dgram'] as const)
    for (const connected of [true, false])
      it(`${mode}, ${connected ? 'connected' : 'addressed'}: 100 packets arrive whole`, async () => {
        const got = await roundTrip(mode, connected, 100);
        const ids = got.map((m) => m.readUInt32BE(0)).sort((a, b) => a - b);
        expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => i));
        for (const m of got) {
          const i = m.readUInt32BE(0);
          expect(m.length).toBe(100 + (i % 7) * 150);
          expect(m[m.length - 1]).toBe(i % 256);
        }
      });

  it('sendmmsg: runs of equal packets (GSO where the kernel has it) still arrive as separate datagrams', async () => {
    // 130 full packets and a short one: runs of 64 segments at most, the last run closed by the short one
    const size = (i: number) => (i === 130 ? 400 : 1350);
    const got = await roundTrip('sendmmsg', true, 131, size);
    expect(got.map((m) => m.readUInt32BE(0)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 131 }, (_, i) => i),
    );
    for (const m of got) expect(m.length).toBe(size(m.readUInt32BE(0)));
  });
});
