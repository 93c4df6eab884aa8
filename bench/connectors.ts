import { spawnBinary, spawnTs, waitUntil, type Proc } from '../test/helpers/processes.js';
import { cpuSeconds, rssBytes, udpCounters } from '../test/helpers/proc-stats.js';
import { cloudflaredArgs, startAgent, startEdgeSim, type EdgeSimProc } from '../test/helpers/stack.js';
import { fmt } from './format.js';
import { download, runLoad } from './load.js';

/**
 * The connector side by side: our agent and, where CLOUDFLARED_BIN names a binary, real cloudflared,
 * each in turn against the same edge-sim and the same origin, per transport, in rounds that
 * interleave the two (the figures are the medians over rounds). Per connector and transport: CPU per
 * proxied 1 KiB request at 64 connections, requests/s and p50/p99 at 1 and 64 connections, a 256 MiB
 * download over one stream (MiB/s and CPU per MiB), RSS at idle with 4 connections and after the
 * load. Each figure is also printed as one JSON line on stderr for scripts. Our agent runs with its
 * defaults: access log and metrics on.
 */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 3000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BULK = 256 * 1024 * 1024;
const HOST = 'bench.test';
const PROTOCOLS = ['http2', 'quic'] as const;

interface Run {
  cpuUsPerRequest: number;
  rps64: number;
  p50ms64: number;
  p99ms64: number;
  rps1: number;
  p50ms1: number;
  p99ms1: number;
  errors: number;
  bulkMiBs: number;
  cpuMsPerMiB: number;
  idleRssMiB: number;
  loadedRssMiB: number;
  /** UDP datagrams the kernel dropped for a full receive buffer while this connector was measured (the machine's count) */
  udpDrops: number;
}

type Connector = 'agent' | 'cloudflared';

/** UDP datagrams the kernel dropped for a full receive or send buffer so far, machine-wide. */
const udpBuffers = () => udpCounters('RcvbufErrors', 'SndbufErrors');

interface Running {
  pid: number;
  stop(): Promise<void>;
}

/**
 * cloudflared keeps at most one connection per edge address, so both connectors get four loopback
 * addresses of the one edge-sim (listening on 0.0.0.0 for this), connection i on address i.
 */
function edgeAddresses(edge: EdgeSimProc): string[] {
  const port = edge.tunnelAddr.slice(edge.tunnelAddr.lastIndexOf(':') + 1);
  return [1, 2, 3, 4].map((i) => `127.0.0.${i}:${port}`);
}

async function startConnector(
  who: Connector,
  protocol: string,
  edge: EdgeSimProc,
  originUrl: string,
): Promise<Running> {
  if (who === 'agent') {
    const a = await startAgent([
      '--credentials-file',
      edge.credentialsFile('bench'),
      '--cacert',
      edge.caFile,
      ...edgeAddresses(edge).flatMap((e) => ['--edge', e]),
      '--url',
      originUrl,
      '--protocol',
      protocol,
    ]);
    return { pid: a.proc.child.pid as number, stop: () => a.stop() };
  }
  const p: Proc = spawnBinary(
    'cloudflared',
    process.env.CLOUDFLARED_BIN as string,
    await cloudflaredArgs(edge, 'bench', originUrl, protocol, edgeAddresses(edge)),
  );
  return { pid: p.child.pid as number, stop: () => p.stop() };
}

async function measure(who: Connector, protocol: string, edge: EdgeSimProc, originUrl: string): Promise<Run> {
  const c = await startConnector(who, protocol, edge, originUrl);
  try {
    await waitUntil(
      async () => {
        const conns = (await edge.tunnels())[0]?.connections ?? [];
        return conns.length === 4 && conns.every((x) => x.protocol === protocol) ? true : undefined;
      },
      30_000,
      `4 ${protocol} connections of ${who}`,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssBytes(c.pid);
    const udp0 = udpBuffers();
    const load = (concurrency: number, durationMs: number) =>
      runLoad({ url: edge.publicUrl, path: '/bytes/1024', host: HOST, concurrency, durationMs });
    await load(64, WARMUP_MS);
    const cpu0 = cpuSeconds(c.pid);
    const many = await load(64, DURATION_MS);
    const cpuUsPerRequest = ((cpuSeconds(c.pid) - cpu0) / many.requests) * 1e6;
    const one = await load(1, DURATION_MS / 2);
    const loadedRss = rssBytes(c.pid);
    const b0 = cpuSeconds(c.pid);
    const bulk = await download(edge.publicUrl, `/bytes/${BULK}`, HOST);
    const cpuMsPerMiB = ((cpuSeconds(c.pid) - b0) / (bulk.bytes / 2 ** 20)) * 1e3;
    return {
      cpuUsPerRequest,
      rps64: many.rps,
      p50ms64: many.p50ms,
      p99ms64: many.p99ms,
      rps1: one.rps,
      p50ms1: one.p50ms,
      p99ms1: one.p99ms,
      errors: many.errors + one.errors,
      bulkMiBs: bulk.mibPerSec,
      cpuMsPerMiB,
      idleRssMiB: idleRss / 2 ** 20,
      loadedRssMiB: loadedRss / 2 ** 20,
      udpDrops: udpBuffers() - udp0,
    };
  } finally {
    await c.stop();
    // The edge forgets a stopped connector's connections (at once on TCP, after its idle timeout on QUIC).
    await waitUntil(
      async () => ((await edge.tunnels())[0]?.connections.length === 0 ? true : undefined),
      30_000,
      'old connections gone',
    );
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

function medianRun(runs: Run[]): Run {
  const out = {} as Record<keyof Run, number>;
  for (const k of Object.keys(runs[0] as Run) as Array<keyof Run>) out[k] = median(runs.map((r) => r[k]));
  return out;
}

/** The figures a script reads, one JSON line each, with both connectors where both ran. */
const FIGURES: Array<[string, keyof Run]> = [
  ['cpu_us_per_request', 'cpuUsPerRequest'],
  ['requests_per_s', 'rps64'],
  ['p50_ms_64', 'p50ms64'],
  ['p99_ms_64', 'p99ms64'],
  ['requests_per_s_1', 'rps1'],
  ['p50_ms_1', 'p50ms1'],
  ['p99_ms_1', 'p99ms1'],
  ['bulk_mib_per_s', 'bulkMiBs'],
  ['cpu_ms_per_mib', 'cpuMsPerMiB'],
  ['idle_rss_mib', 'idleRssMiB'],
  ['loaded_rss_mib', 'loadedRssMiB'],
  ['udp_buffer_drops', 'udpDrops'],
];

export async function benchConnectors(): Promise<string[]> {
  const connectors: Connector[] =
    process.env.CLOUDFLARED_BIN === undefined ? ['agent'] : ['agent', 'cloudflared'];
  const origin = spawnTs('origin', 'examples/origin/echo-origin.ts', ['bench-origin', '0']);
  const originUrl = `http://127.0.0.1:${(await origin.waitForMsg('origin listening')).port as number}`;
  const edge = await startEdgeSim({ tunnels: ['bench'], routes: [`${HOST}=bench`], tunnelHost: '0.0.0.0' });
  const results = new Map<string, Run[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const protocol of PROTOCOLS) {
        // Interleaved, and the order flipped each round, so that drift in the machine hits both.
        const order = round % 2 === 0 ? connectors : [...connectors].reverse();
        for (const who of order) {
          const key = `${who}/${protocol}`;
          const run = await measure(who, protocol, edge, originUrl);
          results.set(key, [...(results.get(key) ?? []), run]);
          process.stderr.write(`bench: connectors round ${round + 1}/${ROUNDS} ${key} done\n`);
        }
      }
    }
  } finally {
    await edge.stop();
    await origin.stop();
  }
  const med = new Map([...results].map(([k, runs]) => [k, medianRun(runs)]));
  const lines: string[] = [];
  for (const protocol of PROTOCOLS) {
    for (const [figure, field] of FIGURES) {
      const o: Record<string, string | number> = { figure, transport: protocol };
      for (const who of connectors)
        o[who] = Math.round((med.get(`${who}/${protocol}`)?.[field] ?? NaN) * 100) / 100;
      process.stderr.write(`${JSON.stringify(o)}\n`);
      lines.push(JSON.stringify(o));
    }
  }
  const row = (label: string, r: Run | undefined) =>
    r === undefined
      ? `| ${label} | not run ||||||||||`
      : `| ${label} | ${fmt(r.cpuUsPerRequest)} | ${fmt(r.rps64)} | ${fmt(r.p50ms64, 2)} / ${fmt(r.p99ms64, 2)} | ${fmt(r.rps1)} | ${fmt(r.p50ms1, 2)} / ${fmt(r.p99ms1, 2)} | ${fmt(r.bulkMiBs)} | ${fmt(r.cpuMsPerMiB, 2)} | ${fmt(r.idleRssMiB, 1)} | ${fmt(r.loadedRssMiB, 1)} | ${fmt(r.udpDrops)} |`;
  return [
    `### Connectors side by side (medians of ${ROUNDS} interleaved rounds; ${DURATION_MS / 1000} s at 64 connections, ${DURATION_MS / 2000} s at 1)`,
    '',
    '| connector, transport | CPU µs / 1 KiB request | req/s (64) | p50 / p99 ms (64) | req/s (1) | p50 / p99 ms (1) | bulk MiB/s | CPU ms / MiB | idle RSS MiB | RSS after load MiB | UDP drops |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...PROTOCOLS.flatMap((p) => connectors.map((who) => row(`${who}, ${p}`, med.get(`${who}/${p}`)))),
    '',
    ...PROTOCOLS.filter(() => connectors.length === 2).map((p) => {
      const a = med.get(`agent/${p}`) as Run;
      const c = med.get(`cloudflared/${p}`) as Run;
      return `- ${p}: our CPU per request is **${fmt(a.cpuUsPerRequest / c.cpuUsPerRequest, 2)}×** cloudflared's; requests/s ${fmt(a.rps64 / c.rps64, 2)}×; bulk ${fmt(a.bulkMiBs / c.bulkMiBs, 2)}×`;
    }),
    '',
    'JSON lines:',
    '',
    '```',
    ...lines,
    '```',
  ];
}
