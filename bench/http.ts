import { spawnTs, waitUntil } from '../test/helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim } from '../test/helpers/stack.js';
import { fmt } from './format.js';
import { download, runLoad, type LoadResult } from './load.js';
import { cpuSeconds, rssBytes } from '../test/helpers/proc-stats.js';

/**
 * The data path, 1 KiB GETs and a 256 MiB download, through edge-sim and the agent over each tunnel
 * transport, against a baseline taken in the same run (straight to the origin).
 */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const CONCURRENCY = 64;
const HOST = 'bench.test';
const BULK = 256 * 1024 * 1024;

interface TransportResult {
  protocol: string;
  load: LoadResult;
  agentCpuUs: number;
  edgeCpuUs: number;
  idleRssMiB: number;
  loadedRssMiB: number;
  bulkMiBs: number;
}

const line = (name: string, r: LoadResult) =>
  `| ${name} | ${fmt(r.rps)} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${r.requests} | ${r.errors} |`;

export async function benchHttp(): Promise<string[]> {
  const origin = spawnTs('origin', 'examples/origin/echo-origin.ts', ['bench-origin', '0']);
  const originPort = (await origin.waitForMsg('origin listening')).port as number;
  const originUrl = `http://127.0.0.1:${originPort}`;
  const edge = await startEdgeSim({ tunnels: ['bench'], routes: [`${HOST}=bench`] });
  const edgePid = edge.proc.child.pid as number;
  const originPid = origin.child.pid as number;
  const results: TransportResult[] = [];
  let direct: LoadResult;
  let originCpuUs: number;
  let bulkDirect: number;
  try {
    await runLoad({ url: originUrl, path: '/bytes/1024', concurrency: CONCURRENCY, durationMs: WARMUP_MS });
    const o0 = cpuSeconds(originPid);
    direct = await runLoad({
      url: originUrl,
      path: '/bytes/1024',
      concurrency: CONCURRENCY,
      durationMs: DURATION_MS,
    });
    originCpuUs = ((cpuSeconds(originPid) - o0) / direct.requests) * 1e6;
    bulkDirect = (await download(originUrl, `/bytes/${BULK}`, undefined)).mibPerSec;
    for (const protocol of ['http2', 'quic']) {
      const agent = await startAgent(agentArgs(edge, 'bench', originUrl, ['--protocol', protocol]), {
        waitReady: 4,
      });
      try {
        await waitUntil(
          async () => ((await edge.tunnels())[0]?.connections.length === 4 ? true : undefined),
          10_000,
          '4 connections',
        );
        const agentPid = agent.proc.child.pid as number;
        await new Promise((r) => setTimeout(r, 1000));
        const idleRss = rssBytes(agentPid);
        await runLoad({
          url: edge.publicUrl,
          path: '/bytes/1024',
          host: HOST,
          concurrency: CONCURRENCY,
          durationMs: WARMUP_MS,
        });
        const a0 = cpuSeconds(agentPid);
        const e0 = cpuSeconds(edgePid);
        const load = await runLoad({
          url: edge.publicUrl,
          path: '/bytes/1024',
          host: HOST,
          concurrency: CONCURRENCY,
          durationMs: DURATION_MS,
        });
        const agentCpuUs = ((cpuSeconds(agentPid) - a0) / load.requests) * 1e6;
        const edgeCpuUs = ((cpuSeconds(edgePid) - e0) / load.requests) * 1e6;
        const loadedRss = rssBytes(agentPid);
        const bulk = await download(edge.publicUrl, `/bytes/${BULK}`, HOST);
        results.push({
          protocol,
          load,
          agentCpuUs,
          edgeCpuUs,
          idleRssMiB: idleRss / 2 ** 20,
          loadedRssMiB: loadedRss / 2 ** 20,
          bulkMiBs: bulk.mibPerSec,
        });
      } finally {
        await agent.stop();
        // the edge forgets a killed agent's connections (at once on TCP, after the idle timeout on QUIC)
        await waitUntil(
          async () => ((await edge.tunnels())[0]?.connections.length === 0 ? true : undefined),
          10_000,
          'old connections gone',
        );
      }
    }
  } finally {
    await edge.stop();
    await origin.stop();
  }
  return [
    `Load: ${CONCURRENCY} concurrent closed-loop clients, ${DURATION_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up; load generator, origin, edge-sim and agent share the machine. QUIC packets carry at most 1350 bytes.`,
    '',
    '### 1 KiB GET',
    '',
    '| path | requests/s | p50 ms | p99 ms | requests | errors |',
    '|---|---:|---:|---:|---:|---:|',
    line('direct to the origin (baseline)', direct),
    ...results.map((r) => line(`through the tunnel, ${r.protocol}`, r.load)),
    '',
    ...results.map(
      (r) =>
        `- ${r.protocol}: throughput ratio **${fmt(r.load.rps / direct.rps, 2)}**; CPU per request agent ${fmt(r.agentCpuUs)} µs, edge-sim ${fmt(r.edgeCpuUs)} µs (origin alone: ${fmt(originCpuUs)} µs); agent RSS ${fmt(r.idleRssMiB, 1)} MiB with 4 idle connections, ${fmt(r.loadedRssMiB, 1)} MiB after the load${r.load.errors > 0 ? `; errors ${JSON.stringify(r.load.errorKinds)}` : ''}`,
    ),
    '',
    '### 256 MiB download over one stream',
    '',
    `- direct ${fmt(bulkDirect)} MiB/s; ${results.map((r) => `${r.protocol} ${fmt(r.bulkMiBs)} MiB/s (ratio ${fmt(r.bulkMiBs / bulkDirect, 2)})`).join('; ')}`,
  ];
}
