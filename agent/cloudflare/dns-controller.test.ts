import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeSim, type EdgeSim } from '../../edge-sim/edge-sim.js';
import { ApiPacer } from './api-pacer.js';
import { CloudflareClient } from './cloudflare-client.js';
import { DnsController } from './dns-controller.js';
import { formatOwnership, ownershipName } from './dns-ownership.js';
import type { ZoneRecord } from './dns-plan.js';

/**
 * DNS automation against edge-sim's Cloudflare API over real HTTP: random sequences of Ingress host
 * changes over names that others already hold in every way (other types, other owners, other targets)
 * never modify or delete a record the agent does not own, and leave exactly the wanted records.
 */
const TOKEN = 'dns-test-token';
const ZONE = 'example.com';
const TARGET = '0a0a0a0a-1111-2222-3333-444444444444.cfargotunnel.com';
const OWNER = 'cluster-a';
const POOL = ['a', 'b', 'c', 'd', 'e', 'f', 'g', '*.w'].map((l) => `${l}.${ZONE}`);

type Seed = { name: string; type: 'A' | 'CNAME' | 'TXT'; content: string };

/** What someone else might have put on a pool name (or on its ownership TXT name). */
const seedArb = fc.record({
  host: fc.constantFrom(...POOL),
  kind: fc.constantFrom('a', 'cname', 'txt-other-owner', 'txt-at-host'),
});

function seedFor(s: { host: string; kind: string }): Seed {
  if (s.kind === 'a') return { name: s.host, type: 'A', content: '192.0.2.7' };
  if (s.kind === 'cname') return { name: s.host, type: 'CNAME', content: 'elsewhere.example.org' };
  if (s.kind === 'txt-other-owner')
    return {
      name: ownershipName(s.host),
      type: 'TXT',
      content: formatOwnership({ owner: 'cluster-b', resource: 'ingress/x/y' }),
    };
  return { name: s.host, type: 'TXT', content: '"v=spf1 -all"' };
}

describe('DNS automation never touches what it does not own', () => {
  let sim: EdgeSim;
  let stateDir: string;
  let client: CloudflareClient;
  let zoneId: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'dns-prop-'));
    sim = await startEdgeSim({
      stateDir,
      tunnelListen: { host: '127.0.0.1', port: 0 },
      apiListen: { host: '127.0.0.1', port: 0 },
      apiTokens: [TOKEN],
      zones: [ZONE, 'other.test'],
      apiRateLimit: 0,
      quic: false,
      log: pino({ level: 'silent' }),
    });
    const api = sim.addresses.api as { host: string; port: number };
    client = new CloudflareClient({
      apiToken: TOKEN,
      accountId: sim.store.accountTag,
      baseURL: `http://${api.host}:${api.port}/client/v4`,
      pacer: new ApiPacer({ limit: 0 }),
    });
    zoneId = (await client.listZones()).find((z) => z.name === ZONE)?.id as string;
  }, 30_000);
  afterAll(async () => {
    await sim?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  async function records(): Promise<ZoneRecord[]> {
    return client.listRecords(zoneId);
  }

  it('holds over random sequences of Ingress changes with foreign records seeded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(seedArb, { selector: (s) => `${s.host}/${s.kind}`, maxLength: 6 }),
        fc.array(fc.subarray(POOL), { minLength: 1, maxLength: 5 }),
        fc.constantFrom<'sync' | 'upsert-only'>('sync', 'upsert-only'),
        async (seeds, steps, policy) => {
          for (const r of await records()) await client.deleteRecord(zoneId, r.id);
          const foreign: ZoneRecord[] = [];
          for (const s of seeds.map(seedFor)) {
            // Cloudflare refuses some combinations (a CNAME beside anything); those seeds just fail.
            try {
              await client.sdk.dns.records.create({ zone_id: zoneId, ttl: 1, ...s } as never);
            } catch {
              continue;
            }
          }
          foreign.push(...(await records()));
          const held = new Set(
            foreign.flatMap((r) => [r.name, r.name.replace(/^_tunnel-ingress(-wildcard)?\./, '')]),
          );
          let desired = new Map<string, string>();
          const ctl = new DnsController({
            client,
            target: TARGET,
            owner: OWNER,
            policy,
            dryRun: false,
            zones: [],
            desired: () => desired,
            isLeader: () => true,
            log: pino({ level: 'silent' }),
          });
          const everWanted = new Set<string>();
          for (const hosts of steps) {
            desired = new Map(hosts.map((h) => [h, `ingress/default/${h.replace(/\W/g, '-')}`]));
            hosts.forEach((h) => everWanted.add(h));
            await ctl.syncNow();
            const now = await records();
            // 1. Every foreign record is still there, unchanged.
            for (const f of foreign) {
              expect(now.find((r) => r.id === f.id)).toEqual(f);
            }
            // 2. Every wanted name that nobody else holds points at the tunnel, with our TXT.
            const conflicted = new Set(ctl.conflicts.map((c) => c.host));
            for (const h of hosts) {
              const free = ![h, ownershipName(h).toLowerCase()].some((n) => held.has(n)) && !held.has(h);
              if (!free) {
                expect(conflicted.has(h)).toBe(true);
                continue;
              }
              const cname = now.find((r) => r.name === h && r.type === 'CNAME');
              expect(cname).toMatchObject({ content: TARGET, proxied: true });
              const txt = now.find((r) => r.name === ownershipName(h) && r.type === 'TXT');
              expect(txt?.content).toContain(`tunnel-ingress/owner=${OWNER}`);
            }
            // 3. Names no longer wanted keep none of our records under sync; upsert-only keeps them.
            const ours = now.filter((r) => !foreign.some((f) => f.id === r.id));
            for (const r of ours) {
              const host = r.name
                .replace(/^_tunnel-ingress\./, '')
                .replace(/^_tunnel-ingress-wildcard\./, '*.');
              if (policy === 'sync') expect(desired.has(host)).toBe(true);
              else expect(everWanted.has(host)).toBe(true);
            }
          }
          // A second pass with nothing changed plans nothing: only list calls.
          const before = client.pacer.calls;
          await ctl.syncNow();
          expect(client.pacer.calls - before).toBe(3); // the zones, then the records of each of the two
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  it('--dry-run plans and logs but changes nothing', async () => {
    for (const r of await records()) await client.deleteRecord(zoneId, r.id);
    const lines: Array<{ msg: string; name?: string }> = [];
    const log = pino(
      { level: 'info' },
      { write: (l: string) => lines.push(JSON.parse(l) as { msg: string }) },
    );
    const ctl = new DnsController({
      client,
      target: TARGET,
      owner: OWNER,
      policy: 'sync',
      dryRun: true,
      zones: [ZONE],
      desired: () => new Map([['dry.example.com', 'ingress/default/dry']]),
      isLeader: () => true,
      log,
    });
    await ctl.syncNow();
    expect(await records()).toEqual([]);
    const planned = lines.filter((l) => l.msg === 'DNS change (dry run, not applied)').map((l) => l.name);
    expect(planned).toEqual(['_tunnel-ingress.dry.example.com', 'dry.example.com']);
  });
});
