import { spawnTs } from '../test/helpers/processes.js';
import type { QuicConnection } from '../tunnel/quic/quic-connection.js';
import { dialQuic } from '../tunnel/quic/quic-endpoint.js';
import type { QuicStream } from '../tunnel/quic/quic-stream.js';
import { fmt } from './format.js';
import { cpuSeconds } from '../test/helpers/proc-stats.js';

/**
 * The QUIC transport alone, client here and server in another process (one per core): 256 MiB over one
 * stream, and 1 KiB round trips on 64 concurrent streams. 1350-byte packets.
 */
async function bulk(c: QuicConnection, size: number): Promise<number> {
  const s = c.openStream();
  const chunk = Buffer.alloc(256 * 1024, 0x53);
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  const t0 = performance.now();
  for (let at = 0; at < size; at += chunk.length)
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  s.end();
  if (Number(await answer) !== size) throw new Error('the server saw a different byte count');
  return size / 2 ** 20 / ((performance.now() - t0) / 1000);
}

function roundTrip(s: QuicStream, msg: Buffer): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= msg.length) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.write(msg);
  });
}

export async function benchQuicTransport(durationMs = 10_000): Promise<string[]> {
  const server = spawnTs('quic-server', 'bench/quic-server.ts', []);
  const ready = await server.waitForMsg('quic bench server');
  try {
    const c = await dialQuic({ host: '127.0.0.1', port: ready.port as number, ca: ready.ca as string });
    const mibs = await bulk(c, 256 * 1024 * 1024);
    const streams = Array.from({ length: 64 }, () => {
      const s = c.openStream();
      s.on('error', () => {});
      return s;
    });
    const msg = Buffer.alloc(1024, 0x45);
    const latencies: number[] = [];
    const s0 = cpuSeconds(server.child.pid as number);
    const c0 = process.cpuUsage();
    const end = performance.now() + durationMs;
    await Promise.all(
      streams.map(async (s) => {
        while (performance.now() < end) {
          const t = performance.now();
          await roundTrip(s, msg);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const serverCpu = cpuSeconds(server.child.pid as number) - s0;
    const clientCpu = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6;
    for (const s of streams) s.end();
    c.close();
    latencies.sort((a, b) => a - b);
    const rps = latencies.length / (durationMs / 1000);
    return [
      '### The QUIC transport alone (two processes, 1350-byte packets)',
      '',
      `- one stream: **${fmt(mibs)} MiB/s** (target 100)`,
      `- 1 KiB round trips, 64 concurrent streams: **${fmt(rps)}/s** (target 30,000), p50 ${fmt(latencies[Math.floor(latencies.length / 2)] ?? 0, 2)} ms, p99 ${fmt(latencies[Math.floor(latencies.length * 0.99)] ?? 0, 2)} ms; CPU per round trip: client ${fmt((clientCpu / latencies.length) * 1e6)} µs, server ${fmt((serverCpu / latencies.length) * 1e6)} µs`,
    ];
  } finally {
    await server.stop();
  }
}
