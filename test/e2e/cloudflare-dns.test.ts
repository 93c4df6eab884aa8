import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import Cloudflare from 'cloudflare';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudflareSchema, validatingFetch } from '../helpers/cloudflare-openapi.js';
import { events, startKube, type KubeProc } from '../helpers/kube.js';
import {
  INGRESS_CLASS,
  countingOrigin,
  ingress,
  service,
  slice,
  type CountingOrigin,
} from '../helpers/origins.js';
import { tempDir, waitUntil } from '../helpers/processes.js';
import {
  cloudflareArgs,
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * The Cloudflare side end to end, with no --route: kubectl applies an Ingress, the agent (leader)
 * makes its DNS records through edge-sim's API with the official SDK, visitors reach the origin by
 * hostname because edge-sim routes by those records, and the records go when the Ingress goes.
 */
const TOKEN = 'e2e-cloudflare-token';
const ZONE = 'example.com';

interface Rec {
  id: string;
  name: string;
  type: string;
  content: string;
  proxied?: boolean;
}

describe('Cloudflare DNS automation end to end', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;
  let cf: Cloudflare;
  let zoneId: string;
  let tmp: { dir: string; remove(): Promise<void> };
  let tokenFile: string;
  const violations: string[] = [];

  const records = async (): Promise<Rec[]> => {
    const out: Rec[] = [];
    for await (const r of cf.dns.records.list({ zone_id: zoneId })) out.push(r as Rec);
    return out;
  };
  const visit = async (host: string) => {
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host } });
    await res.body.text();
    return res.statusCode;
  };
  const dnsArgs = () => [
    ...cloudflareArgs(edge, tokenFile),
    '--dns-owner-id',
    'e2e-cluster',
    '--dns-resync',
    '2s',
  ];

  beforeAll(async () => {
    tmp = await tempDir('cf-e2e');
    tokenFile = path.join(tmp.dir, 'api-token');
    await writeFile(tokenFile, TOKEN + '\n', { mode: 0o600 });
    origin = await countingOrigin('dns-origin');
    k = await startKube();
    edge = await startEdgeSim({
      tunnels: ['k8s'],
      routes: [],
      extra: ['--api-token', TOKEN, '--zone', ZONE],
    });
    cf = new Cloudflare({
      apiToken: TOKEN,
      baseURL: `${edge.apiUrl}/client/v4`,
      maxRetries: 0,
      fetch: validatingFetch(new CloudflareSchema(), violations),
    });
    for await (const z of cf.zones.list({ name: ZONE })) zoneId = z.id;
    // Someone else's record on a name an Ingress will ask for.
    await cf.dns.records.create({
      zone_id: zoneId,
      type: 'CNAME',
      name: 'taken.example.com',
      content: 'other.example.org',
      proxied: true,
      ttl: 1,
    });
    await k.apply([INGRESS_CLASS, service('svc'), slice('svc-1', 'svc', origin.port, [{}])].join('---\n'));
    agent = await startAgent(kubeAgentArgs(edge, 'k8s', k, ['--ha-connections', '2', ...dnsArgs()]), {
      waitReady: 2,
    });
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
    await tmp?.remove();
  });

  it('kubectl apply makes the records, visitors arrive by hostname, delete removes them', async () => {
    const [tunnel] = await edge.tunnels();
    const target = `${tunnel?.id as string}.cfargotunnel.com`;
    expect(await visit('app.example.com')).toBe(530);
    await k.apply(ingress('app', [{ host: 'app.example.com', paths: [['/', 'Prefix', 'svc']] }]));
    const cname = await waitUntil(
      async () => (await records()).find((r) => r.name === 'app.example.com' && r.type === 'CNAME'),
      15_000,
      'the CNAME for app.example.com',
    );
    expect(cname).toMatchObject({ content: target, proxied: true });
    const txt = (await records()).find((r) => r.name === '_tunnel-ingress.app.example.com');
    expect(txt?.content).toBe(
      `"heritage=tunnel-ingress,tunnel-ingress/owner=e2e-cluster,tunnel-ingress/resource=ingress/${k.namespace}/app"`,
    );
    const hits = origin.hits;
    expect(await visit('app.example.com')).toBe(200);
    expect(origin.hits).toBe(hits + 1);

    const r = await k.kubectl(['delete', 'ingress', 'app']);
    expect(r.code).toBe(0);
    await waitUntil(
      async () => ((await records()).some((x) => x.name.endsWith('app.example.com')) ? undefined : true),
      15_000,
      'the records of app.example.com to go',
    );
    expect(await visit('app.example.com')).toBe(530);
  }, 60_000);

  it("leaves someone else's record alone: an Event, a metric, and the record unchanged", async () => {
    const before = (await records()).find((x) => x.name === 'taken.example.com');
    await k.apply(ingress('taken', [{ host: 'taken.example.com', paths: [['/', 'Prefix', 'svc']] }]));
    const event = await waitUntil(
      async () => {
        const items = await events(k);
        return items.find((e) => e.reason === 'DNSConflict' && e.involvedObject.name === 'taken');
      },
      15_000,
      'a DNSConflict Event',
    );
    expect(event.message).toContain('taken.example.com');
    expect(event.message).toContain('CNAME other.example.org');
    const metrics = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/^tunnel_ingress_dns_conflicts 1$/m);
    const after = (await records()).filter((x) => x.name.endsWith('taken.example.com'));
    expect(after).toEqual([before]);
    await k.kubectl(['delete', 'ingress', 'taken']);
  }, 60_000);

  it('ends with the right records after 429 bursts and 5xx for 30 s, without crashing', async () => {
    const fault = (spec: object) =>
      request(`${edge.apiUrl}/_edge/api-faults`, { method: 'POST', body: JSON.stringify(spec) }).then((x) =>
        x.body.text(),
      );
    await fault({ status: 429, count: 5, retryAfterS: 1 });
    await k.apply(ingress('burst', [{ host: 'burst.example.com', paths: [['/', 'Prefix', 'svc']] }]));
    await waitUntil(
      async () => (await records()).find((x) => x.name === 'burst.example.com'),
      20_000,
      'records made through 429s',
    );
    await fault({ status: 503, forMs: 30_000 });
    const t0 = Date.now();
    await k.apply(ingress('outage', [{ host: 'outage.example.com', paths: [['/', 'Prefix', 'svc']] }]));
    await k.kubectl(['delete', 'ingress', 'burst']);
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() - t0)));
    const names = await waitUntil(
      async () => {
        const now = (await records()).map((x) => x.name);
        return now.includes('outage.example.com') && !now.includes('burst.example.com') ? now : undefined;
      },
      40_000,
      'the records to match the Ingresses after the outage',
    );
    expect(names).toContain('_tunnel-ingress.outage.example.com');
    expect(names).toContain('taken.example.com'); // still someone else's, still there
    expect(agent.proc.child.exitCode).toBeNull();
    expect(await visit('outage.example.com')).toBe(200);
    const metrics = await (await request(`${agent.metricsUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/tunnel_ingress_cloudflare_api_rate_limited_total [1-9]/);
    expect(metrics).toMatch(/tunnel_ingress_dns_syncs_total\{result="error"\} [1-9]/);
  }, 120_000);

  it('every API response validated against the OpenAPI subset', () => {
    expect(violations).toEqual([]);
  });
});
