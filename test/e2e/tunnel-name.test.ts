import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCredentialsFile } from '../../tunnel/credentials.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import {
  INGRESS_CLASS,
  countingOrigin,
  ingress,
  service,
  slice,
  type CountingOrigin,
} from '../helpers/origins.js';
import { spawnTs, tempDir, waitUntil } from '../helpers/processes.js';
import { registerSecret } from '../helpers/secret-scan.js';
import {
  cloudflareArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/** --tunnel-name on two replicas started together: one tunnel is created, both run it, the Secret holds it. */
const TOKEN = 'tunnel-name-token';

describe('--tunnel-name', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let origin: CountingOrigin;
  let tmp: { dir: string; remove(): Promise<void> };
  const agents: AgentProc[] = [];

  beforeAll(async () => {
    tmp = await tempDir('tn');
    origin = await countingOrigin('tn-origin');
    k = await startKube({ rbac: 'tunnelName' });
    edge = await startEdgeSim({
      tunnels: [],
      routes: [],
      extra: ['--api-token', TOKEN, '--zone', 'example.com'],
    });
    await k.apply(
      [
        INGRESS_CLASS,
        service('svc'),
        slice('svc-1', 'svc', origin.port, [{}]),
        ingress('web', [{ host: 'web.example.com', paths: [['/', 'Prefix', 'svc']] }]),
      ].join('---\n'),
    );
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await edge?.stop();
    await k?.stop();
    await origin?.close();
    await tmp?.remove();
  });

  /** An agent that finds or makes the tunnel `name` through edge-sim's API. */
  const byName = (name: string, kubeconfig: string, more: string[]) => [
    '--tunnel-name',
    name,
    ...cloudflareArgs(edge),
    '--edge',
    edge.tunnelAddr,
    '--cacert',
    edge.caFile,
    '--kubeconfig',
    kubeconfig,
    ...k.agentScope,
    ...more,
  ];
  const tokenFile = () => path.join(tmp.dir, 'token');

  it('creates one tunnel for both replicas and keeps its credentials in a Secret', async () => {
    await writeFile(tokenFile(), TOKEN);
    const args = byName('shared', k.agentKubeconfig, [
      '--cloudflare-api-token-file',
      tokenFile(),
      '--ha-connections',
      '2',
    ]);
    // The second replica takes the API token from CLOUDFLARE_API_TOKEN, as the chart passes it.
    const fromEnv = byName('shared', k.agentKubeconfig, ['--ha-connections', '2']);
    agents.push(
      ...(await Promise.all([
        startAgent(args, { waitReady: 2 }),
        startAgent(fromEnv, { waitReady: 2, env: { CLOUDFLARE_API_TOKEN: TOKEN } }),
      ])),
    );
    const tunnels = (await edge.tunnels()).filter((t) => t.name === 'shared');
    expect(tunnels).toHaveLength(1);
    const t = tunnels[0] as (typeof tunnels)[number];
    expect(new Set(t.connections.map((c) => c.clientId)).size).toBe(2);
    expect(t.connections).toHaveLength(4);

    const secret = await k.kubectl(['get', 'secret', 'tunnel-ingress-credentials', '-o', 'json']);
    const data = (JSON.parse(secret.stdout) as { data: Record<string, string> }).data;
    const creds = parseCredentialsFile(Buffer.from(data['credentials.json'] as string, 'base64').toString());
    expect(creds.tunnelId).toBe(t.id);
    expect(Buffer.from(data['tunnel-name'] as string, 'base64').toString()).toBe('shared');
    // The tunnel secret must not reach the logs of either replica.
    const secretB64 = creds.tunnelSecret.toString('base64');
    registerSecret(secretB64);
    for (const a of agents)
      expect(a.proc.lines.some((l) => JSON.stringify(l).includes(secretB64))).toBe(false);
    for (const a of agents) expect(a.proc.lines.some((l) => JSON.stringify(l).includes(TOKEN))).toBe(false);

    // And the leader published it by DNS: a visitor reaches the origin by hostname.
    await waitUntil(
      async () => {
        const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'web.example.com' } });
        await res.body.text();
        return res.statusCode === 200 ? true : undefined;
      },
      15_000,
      'web.example.com to be served by DNS',
    );
  }, 90_000);

  it('makes a new tunnel when the one in the Secret was deleted, and replaces the Secret', async () => {
    const before = (await edge.tunnels()).find((t) => t.name === 'shared');
    expect(before).toBeDefined();
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    // Cloudflare refuses to delete a tunnel with connections (1022) until the edge has seen them go.
    await waitUntil(
      async () => {
        const res = await request(
          `${edge.apiUrl}/client/v4/accounts/${edge.account}/cfd_tunnel/${before!.id}`,
          {
            method: 'DELETE',
            headers: { authorization: `Bearer ${TOKEN}` },
          },
        );
        await res.body.text();
        return res.statusCode === 200 ? true : undefined;
      },
      15_000,
      'the tunnel deleted',
    );
    agents.push(
      await startAgent(
        byName('shared', k.agentKubeconfig, [
          '--cloudflare-api-token-file',
          tokenFile(),
          '--ha-connections',
          '1',
        ]),
        { waitReady: 1 },
      ),
    );
    await agents[0]!.proc.waitForMsg('the tunnel in the Secret was deleted; making a new one');
    const secret = await k.kubectl(['get', 'secret', 'tunnel-ingress-credentials', '-o', 'json']);
    const data = (JSON.parse(secret.stdout) as { data: Record<string, string> }).data;
    const creds = parseCredentialsFile(Buffer.from(data['credentials.json'] as string, 'base64').toString());
    registerSecret(creds.tunnelSecret.toString('base64'));
    const live = (await edge.tunnels()).filter((t) => t.name === 'shared' && t.connections.length > 0);
    expect(live.map((t) => t.id)).toEqual([creds.tunnelId]);
    expect(creds.tunnelId).not.toBe(before!.id);
  }, 60_000);

  it('--cloudflare-api-token-secret: a ServiceAccount that may not read the Secret gets a clear startup error', async () => {
    // (kubectl create secret sends protobuf, which kube-sim does not read; apply sends JSON.)
    await k.apply(
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: cf-api\nstringData:\n  api-token: ${TOKEN}\n`,
    );
    const proc = spawnTs(
      'agent',
      'agent/main.ts',
      byName('other', k.unboundKubeconfig, [
        '--cloudflare-api-token-secret',
        'cf-api',
        '--metrics',
        '127.0.0.1:0',
      ]),
    );
    const code = await proc.exited;
    expect(code).not.toBe(0);
    expect(proc.raw.join('\n')).toContain(
      `cannot read the Secret ${k.namespace}/cf-api for the Cloudflare API token (HTTP 403): the ServiceAccount may not get it`,
    );
    expect(proc.raw.join('\n')).not.toContain(TOKEN);
  }, 30_000);
});
