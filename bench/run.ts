import os from 'node:os';
import { benchApplyToLive, benchGatewayApplyToLive } from './apply-to-live.js';
import { benchCache } from './cache.js';
import { benchConnectors } from './connectors.js';
import { benchDns } from './dns.js';
import { benchFaults } from './faults.js';
import { fmt } from './format.js';
import { benchHttp } from './http.js';
import { benchQuicTransport } from './quic-transport.js';
import { benchGatewayRouting, benchRouting } from './routing.js';
import { benchRollout, benchStreams } from './streams.js';

/**
 * `npm run bench [-- SECTION…]`: sections http, connectors, streams, rollout, quic, routing, apply, gateway-apply, dns, faults, cache (connectors compares real cloudflared too where CLOUDFLARED_BIN names it). Nothing here asserts a number; the
 * figures go into docs/performance.md with the machine they were taken on.
 */
const SECTIONS: Record<string, () => Promise<string[]>> = {
  http: benchHttp,
  connectors: benchConnectors,
  streams: benchStreams,
  rollout: benchRollout,
  faults: benchFaults,
  quic: () => benchQuicTransport(),
  async routing() {
    const r = benchRouting(5000);
    return [
      '### Route table: 5,000 Ingresses × 4 paths, 50,000 endpoints',
      '',
      `- build (compile from cached objects, median of 5): **${fmt(r.buildMsMedian, 1)} ms** for ${fmt(r.routes)} routes and ${fmt(r.endpoints)} endpoints`,
      `- lookup per request (host + path, hits and misses mixed): **${fmt(r.lookupNs, 0)} ns**`,
      `- heap the tables and upstreams add (inputs excluded): ${fmt(r.heapMiB, 1)} MiB`,
      '',
      '### Route table: 5,000 HTTPRoutes × 4 paths (one Gateway), the same Services and endpoints',
      '',
      ...(() => {
        const g = benchGatewayRouting(5000);
        return [
          `- build (compile from cached objects, median of 5): **${fmt(g.buildMsMedian, 1)} ms** for ${fmt(g.routes)} routes (${fmt(g.buildMsMedian / r.buildMsMedian, 2)}× the Ingress build)`,
          `- lookup per request: **${fmt(g.lookupNs, 0)} ns** (${fmt(g.lookupNs / r.lookupNs, 2)}× the Ingress lookup)`,
          `- heap: ${fmt(g.heapMiB, 1)} MiB`,
        ];
      })(),
    ];
  },
  cache: benchCache,
  dns: () => benchDns(Number(process.env.TI_DNS_HOSTS ?? 1000)),
  async apply() {
    const r = await benchApplyToLive(50);
    return [
      '### kubectl apply to the first 200 through the edge (50 applies, each adding a path)',
      '',
      `- p50 **${fmt(r.p50)} ms**, p99 **${fmt(r.p99)} ms**, max ${fmt(r.max)} ms (the clock starts when kubectl is launched; kubectl itself takes about ${fmt(r.kubectlMs)} ms to return)`,
    ];
  },
  async 'gateway-apply'() {
    const r = await benchGatewayApplyToLive(50);
    if (r === null)
      return ['### HTTPRoute apply to the first 200: skipped (needs Go and the test bed control plane)'];
    return [
      '### kubectl apply of an HTTPRoute to the first 200 through the edge (50 applies, each adding a match; real kube-apiserver)',
      '',
      `- p50 **${fmt(r.p50)} ms**, p99 **${fmt(r.p99)} ms**, max ${fmt(r.max)} ms (kubectl itself takes about ${fmt(r.kubectlMs)} ms to return)`,
    ];
  },
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = asked.length > 0 ? asked : Object.keys(SECTIONS);
  for (const n of names)
    if (SECTIONS[n] === undefined)
      throw new Error(`unknown section "${n}"; sections: ${Object.keys(SECTIONS).join(', ')}`);
  const out = [
    `Machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, ${fmt(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`,
    'Programs: compiled (dist/), as deployed.',
    '',
  ];
  for (const n of names) {
    out.push(...(await (SECTIONS[n] as () => Promise<string[]>)()), '');
    process.stderr.write(`bench: ${n} done\n`);
  }
  process.stdout.write(out.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
