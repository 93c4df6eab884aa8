import { request } from 'undici';
import { spawnTs, waitUntil } from '../test/helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim } from '../test/helpers/stack.js';
import { download, runLoad, type LoadResult } from './load.js';
import { cpuSeconds, rssBytes } from './proc-stats.js';

/**
 * The data path, 1 KiB GETs and a bulk download, measured against a baseline taken in the same run
 * (straight to the origin).
 */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const CONCURRENCY = 64;
const HOST = 'bench.test';

import { fmt } from './format.js';

export async function benchHttp(): Promise<string[]> {
  const origin = spawnTs('origin', 'examples/origin/echo-origin.ts', ['bench-origin', '0']);
  const originPort = (await origin.waitForMsg('origin listening')).port as number;
  const originUrl = `http://127.0.0.1:${originPort}`;
  const edge = await startEdgeSim({ tunnels: ['bench'], routes: [`${HOST}=bench`] });
  const agent = await startAgent(agentArgs(edge, 'bench', originUrl), { waitReady: 4 });
  await waitUntil(
    async () => ((await edge.tunnels())[0]?.connections.length === 4 ? true : undefined),
    10_000,
    '4 connections',
  );
  const agentPid = agent.proc.child.pid as number;
  const edgePid = edge.proc.child.pid as number;
  const originPid = origin.child.pid as number;

  const rows: string[] = [];
  try {
    const idleRss = rssBytes(agentPid);
    // 1 KiB GET, direct then through the tunnel, each after its own warm-up.
    await runLoad({ url: originUrl, path: '/bytes/1024', concurrency: CONCURRENCY, durationMs: WARMUP_MS });
    const o0 = cpuSeconds(originPid);
    const direct = await runLoad({
      url: originUrl,
      path: '/bytes/1024',
      concurrency: CONCURRENCY,
      durationMs: DURATION_MS,
    });
    const originCpuDirect = (cpuSeconds(originPid) - o0) / direct.requests;

    await runLoad({
      url: edge.publicUrl,
      path: '/bytes/1024',
      host: HOST,
      concurrency: CONCURRENCY,
      durationMs: WARMUP_MS,
    });
    const a0 = cpuSeconds(agentPid);
    const e0 = cpuSeconds(edgePid);
    const tunnel = await runLoad({
      url: edge.publicUrl,
      path: '/bytes/1024',
      host: HOST,
      concurrency: CONCURRENCY,
      durationMs: DURATION_MS,
    });
    const agentCpu = (cpuSeconds(agentPid) - a0) / tunnel.requests;
    const edgeCpu = (cpuSeconds(edgePid) - e0) / tunnel.requests;
    const loadedRss = rssBytes(agentPid);

    const size = 256 * 1024 * 1024;
    const bulkDirect = await download(originUrl, `/bytes/${size}`, undefined);
    const bulkTunnel = await download(edge.publicUrl, `/bytes/${size}`, HOST);

    const line = (name: string, r: LoadResult) =>
      `| ${name} | ${fmt(r.rps)} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${r.requests} | ${r.errors} |`;
    rows.push(
      `Load: ${CONCURRENCY} concurrent closed-loop clients, ${DURATION_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up; load generator, origin, edge-sim and agent share the machine.`,
      '',
      '### 1 KiB GET, HTTP/2 transport',
      '',
      '| path | requests/s | p50 ms | p99 ms | requests | errors |',
      '|---|---:|---:|---:|---:|---:|',
      line('direct to the origin (baseline)', direct),
      line('edge-sim → tunnel → agent → origin', tunnel),
      '',
      ...(direct.errors + tunnel.errors > 0
        ? [
            `errors: direct ${JSON.stringify(direct.errorKinds)}, tunnel ${JSON.stringify(tunnel.errorKinds)}`,
            '',
          ]
        : []),
      `- throughput ratio, tunnel / direct: **${fmt(tunnel.rps / direct.rps, 2)}**`,
      `- CPU per request: agent ${fmt(agentCpu * 1e6)} µs, edge-sim ${fmt(edgeCpu * 1e6)} µs (origin alone, direct: ${fmt(originCpuDirect * 1e6)} µs)`,
      `- agent RSS: ${fmt(idleRss / 2 ** 20, 1)} MiB with 4 idle connections, ${fmt(loadedRss / 2 ** 20, 1)} MiB after the load`,
      '',
      '### 256 MiB download over one stream',
      '',
      `- direct: ${fmt(bulkDirect.mibPerSec)} MiB/s; through the tunnel: ${fmt(bulkTunnel.mibPerSec)} MiB/s (ratio ${fmt(bulkTunnel.mibPerSec / bulkDirect.mibPerSec, 2)})`,
    );
    const ready = await request(`${agent.metricsUrl}/ready`);
    await ready.body.text();
  } finally {
    const warnings = [...agent.proc.lines, ...edge.proc.lines].filter((l) => (l.level ?? 0) >= 40);
    if (warnings.length > 0) {
      rows.push(
        '',
        `${warnings.length} warnings were logged; the first:`,
        ...warnings.slice(0, 5).map((l) => `    ${JSON.stringify(l)}`),
      );
    }
    await agent.stop();
    await edge.stop();
    await origin.stop();
  }
  return rows;
}
