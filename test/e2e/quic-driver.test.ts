import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type Pki } from '../../common/pki.js';
import type { QuicConnection } from '../../tunnel/quic/quic-connection.js';
import { QuicListener, dialQuic } from '../../tunnel/quic/quic-endpoint.js';
import type { QuicStream } from '../../tunnel/quic/quic-stream.js';
import { patternBytes, patternSha256 } from '../../examples/origin/echo-origin.js';

/** The lean QUIC driver over quiche, on loopback UDP: handshake, streams, bulk data, resets. */
describe('QUIC driver', () => {
  let pki: Pki;
  let listener: QuicListener;
  let port: number;

  beforeAll(async () => {
    pki = await createPki();
    listener = new QuicListener({ host: '127.0.0.1', port: 0, certPem: pki.certPem, keyPem: pki.keyPem });
    port = (await listener.listen()).port;
    listener.on('connection', (c) => {
      // An echo service on client streams: hash what arrives, answer with length and sha256.
      c.on('stream', (s: QuicStream) => {
        const h = createHash('sha256');
        let n = 0;
        s.on('data', (d: Buffer) => {
          n += d.length;
          h.update(d);
        });
        s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
        s.on('error', () => {});
      });
    });
  });
  afterAll(async () => listener?.close());

  const dial = () => dialQuic({ host: '127.0.0.1', port, ca: pki.caPem });
  /** A client connection and the server's side of it. */
  const dialBoth = async () => {
    const serverSide = new Promise<QuicConnection>((r) => listener.once('connection', r));
    const c = await dial();
    return { c, server: await serverSide };
  };
  const collect = (s: QuicStream) =>
    new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => resolve(Buffer.concat(parts)));
      s.on('error', reject);
    });

  /** Answers "answer" once the question has ended: "ans" at once, "wer" 1 ms later, the end two turns after. */
  const answerLate = (s: QuicStream) => {
    s.on('error', () => {});
    s.resume();
    s.on('end', () => {
      s.write('ans');
      setTimeout(() => {
        s.write('wer');
        setImmediate(() => setImmediate(() => s.end()));
      }, 1);
    });
  };
  /** Asks `count` questions on streams the server opens, one after another, each answered in full. */
  const askEach = async (server: QuicConnection, count: number) => {
    for (let i = 0; i < count; i++) {
      const s = server.openStream();
      const answer = collect(s);
      s.end('question');
      expect((await answer).toString()).toBe('answer');
    }
  };

  it('completes a verified handshake and echoes over a client stream', async () => {
    const c = await dial();
    const s = c.openStream();
    expect(s.id).toBe(0);
    s.end('hello');
    expect((await collect(s)).toString()).toBe(`5 ${createHash('sha256').update('hello').digest('hex')}`);
    c.close();
  });

  it('ends a stream whose end() comes long after its last write, on either side', async () => {
    // quiche 0.18 loses a FIN written alone while the stream's data is in flight (QuicStream).
    const c = await dial();
    for (const pause of [0, 1, 30]) {
      const s = c.openStream();
      const answer = collect(s);
      s.write('late');
      await new Promise((r) => setTimeout(r, pause));
      s.write('r');
      await new Promise((r) => setTimeout(r, pause));
      s.end();
      const want = `5 ${createHash('sha256').update('later').digest('hex')}`;
      expect((await answer).toString()).toBe(want);
    }
    c.close();
    // The same on streams the server opens, the client answering (the tunnel's request streams).
    const both = await dialBoth();
    let n = 0;
    both.c.on('stream', (s: QuicStream) => {
      // Half the answers are bulk (the last byte waits for the FIN), half are not (the FIN waits).
      s.bulk = n++ % 2 === 0;
      answerLate(s);
    });
    await askEach(both.server, 40);
    both.c.close();
  });

  it('ends answers whose packets are lost, as a loaded machine loses datagrams', async () => {
    // A tenth of the datagrams either side receives is dropped, by a seeded generator (a FIN on its own
    // on a stream whose reading side had ended was lost for good with its packet: QuicStream).
    const both = await dialBoth();
    let seed = 12345;
    const lose = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31 < 0.1;
    };
    for (const conn of [both.server, both.c]) {
      const receive = conn.receive.bind(conn);
      conn.receive = (d: Buffer) => {
        if (!lose()) receive(d);
      };
    }
    both.c.on('stream', answerLate);
    await askEach(both.server, 100);
    both.c.close();
  }, 60_000);

  it('carries 64 MiB over one stream with backpressure, byte for byte', async () => {
    const c = await dial();
    const s = c.openStream();
    const size = 64 * 1024 * 1024;
    const answer = collect(s);
    const t0 = performance.now();
    for (let at = 0; at < size; at += 256 * 1024) {
      if (!s.write(patternBytes(at, Math.min(256 * 1024, size - at))))
        await new Promise((r) => s.once('drain', r));
    }
    s.end();
    expect((await answer).toString()).toBe(`${size} ${patternSha256(size)}`);
    const mibps = size / 2 ** 20 / ((performance.now() - t0) / 1000);
    expect(mibps).toBeGreaterThan(0);
    c.close();
  }, 60_000);

  it('lets the server open streams to the client (ids 1, 5, …)', async () => {
    const { c, server } = await dialBoth();
    const got = new Promise<QuicStream>((r) => c.once('stream', r));
    const s = server.openStream();
    s.on('error', () => {});
    expect(s.id).toBe(1);
    s.end('from the edge');
    const incoming = await got;
    expect(incoming.id).toBe(1);
    expect((await collect(incoming)).toString()).toBe('from the edge');
    c.close();
  });

  it('propagates a stream reset as an error on that stream only', async () => {
    const { c, server } = await dialBoth();
    const got = new Promise<QuicStream>((r) => c.once('stream', r));
    const s = server.openStream();
    s.on('error', () => {});
    s.write('partial');
    const incoming = await got;
    const failed = new Promise<Error>((r) => incoming.once('error', r));
    incoming.resume();
    s.reset(7);
    expect((await failed).message).toMatch(/reset/);
    // The connection itself still works.
    const ok = c.openStream();
    ok.end('x');
    expect((await collect(ok)).toString()).toMatch(/^1 /);
    c.close();
  });

  it('refuses an edge whose certificate does not chain to the CA', async () => {
    const other = await createPki();
    // The certificate is the problem, not the transport: EDGE_CERTIFICATE, as over HTTP/2.
    await expect(dialQuic({ host: '127.0.0.1', port, ca: other.caPem })).rejects.toMatchObject({
      code: 'EDGE_CERTIFICATE',
      message: expect.stringContaining("the edge's certificate did not verify"),
    });
  });

  it('times out when nothing answers (UDP blocked)', async () => {
    // A socket that takes every datagram and answers none, as a firewall that drops UDP.
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    try {
      await expect(
        dialQuic({ host: '127.0.0.1', port: sink.address().port, ca: pki.caPem, handshakeTimeoutMs: 1000 }),
      ).rejects.toMatchObject({ code: 'QUIC_HANDSHAKE_TIMEOUT' });
    } finally {
      sink.close();
    }
  });

  it('fails at once, saying why, when the port is closed (ICMP unreachable)', async () => {
    const started = Date.now();
    await expect(
      dialQuic({ host: '127.0.0.1', port: 9, ca: pki.caPem, handshakeTimeoutMs: 5000 }),
    ).rejects.toMatchObject({
      code: 'EDGE_DIAL_FAILED',
      message: expect.stringContaining('ECONNREFUSED'),
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
