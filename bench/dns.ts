import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import pino from 'pino';
import { ApiPacer } from '../agent/cloudflare/api-pacer.js';
import { CloudflareClient } from '../agent/cloudflare/cloudflare-client.js';
import { DnsController } from '../agent/cloudflare/dns-controller.js';
import { spawnTs } from '../test/helpers/processes.js';
import { fmt } from './format.js';

/**
 * DNS automation cost: API calls and wall time for a full resync of `hosts` names from an empty zone,
 * then for a resync with nothing to change. edge-sim runs in its own process with Cloudflare's limit
 * (1,200 calls per 5 minutes) on; the agent's controller runs here with its default pacing (1,000 per
 * 5 minutes) and, for comparison, with pacing off against an edge-sim without the limit.
 */
interface Run {
  calls: number;
  ms: number;
  noChangeCalls: number;
  noChangeMs: number;
  rateLimited: number;
}

async function once(hosts: number, paced: boolean): Promise<Run> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-dns-'));
  const sim = spawnTs('edge-sim', 'edge-sim/main.ts', [
    '--state-dir',
    dir,
    '--tunnel-listen',
    '127.0.0.1:0',
    '--api-listen',
    '127.0.0.1:0',
    '--api-token',
    'bench',
    '--zone',
    'example.com',
    '--api-rate-limit',
    paced ? '1200' : '0',
    '--no-quic',
  ]);
  try {
    const ready = await sim.waitForMsg('edge-sim listening', 20_000);
    const api = `http://${ready.api as string}`;
    let rateLimited = 0;
    const client = new CloudflareClient({
      apiToken: 'bench',
      accountId: 'unused-for-dns',
      baseURL: `${api}/client/v4`,
      pacer: new ApiPacer({ limit: paced ? 1000 : 0, on429: () => rateLimited++ }),
    });
    const desired = new Map<string, string>();
    for (let i = 0; i < hosts; i++) desired.set(`host-${i}.example.com`, `ingress/bench/ing-${i % 100}`);
    const ctl = new DnsController({
      client,
      target: '0b0b0b0b-1111-2222-3333-444444444444.cfargotunnel.com',
      owner: 'bench',
      policy: 'sync',
      dryRun: false,
      zones: [],
      desired: () => desired,
      isLeader: () => true,
      log: pino({ level: 'silent' }),
    });
    const c0 = client.pacer.calls;
    const t0 = performance.now();
    await ctl.syncNow();
    const ms = performance.now() - t0;
    const calls = client.pacer.calls - c0;
    const c1 = client.pacer.calls;
    const t1 = performance.now();
    await ctl.syncNow();
    const noChangeMs = performance.now() - t1;
    const noChangeCalls = client.pacer.calls - c1;
    const res = await request(`${api}/_edge/api-calls`);
    const seen = ((await res.body.json()) as { calls: Array<{ status: number }> }).calls;
    if (seen.some((c) => c.status === 429)) rateLimited = seen.filter((c) => c.status === 429).length;
    return { calls, ms, noChangeCalls, noChangeMs, rateLimited };
  } finally {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchDns(hosts = 1000): Promise<string[]> {
  const fast = await once(hosts, false);
  const paced = await once(hosts, true);
  const line = (label: string, r: Run) =>
    `| ${label} | ${fmt(r.calls)} | ${fmt(r.ms / 1000, 1)} s | ${fmt(r.noChangeCalls)} | ${fmt(r.noChangeMs, 0)} ms | ${r.rateLimited} |`;
  return [
    `### DNS automation: full resync of ${fmt(hosts)} hosts from an empty zone, then one with no change`,
    '',
    '| run | API calls | wall time | no-change calls | no-change time | 429s |',
    '|---|---:|---:|---:|---:|---:|',
    line('paced (1,000 calls / 5 min), edge-sim enforcing 1,200 / 5 min', paced),
    line('pacing off, edge-sim without a limit', fast),
  ];
}
