import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc } from '../helpers/kube.js';
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
 * The Cloudflare API answering garbage JSON or cut-off bodies: the agent logs, retries and keeps
 * serving the last good routes and records; when the answers are good again it catches up.
 */
const TOKEN = 'garbage-test-token';

describe('garbage from the Cloudflare API', () => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  let origin: CountingOrigin;
  let tmp: { dir: string; remove(): Promise<void> };

  const visit = async (host: string) => {
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host } });
    await res.body.text();
    return res.statusCode;
  };

  beforeAll(async () => {
    tmp = await tempDir('garbage');
    const tokenFile = path.join(tmp.dir, 'token');
    await writeFile(tokenFile, TOKEN);
    origin = await countingOrigin('garbage-origin');
    k = await startKube();
    edge = await startEdgeSim({
      tunnels: ['g'],
      routes: [],
      extra: ['--api-token', TOKEN, '--zone', 'example.com'],
    });
    await k.apply(
      [
        INGRESS_CLASS,
        service('web'),
        slice('web-1', 'web', origin.port, [{}]),
        ingress('one', [{ host: 'one.example.com', paths: [['/', 'Prefix', 'web']] }]),
      ].join('---\n'),
    );
    agent = await startAgent(
      kubeAgentArgs(edge, 'g', k, [
        '--ha-connections',
        '1',
        ...cloudflareArgs(edge, tokenFile),
        '--dns-resync',
        '1s',
      ]),
      { waitReady: 1 },
    );
    await waitUntil(
      async () => ((await visit('one.example.com')) === 200 ? true : undefined),
      15_000,
      'one.example.com',
    );
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await edge?.stop();
    await k?.stop();
    await origin?.close();
    await tmp?.remove();
  });

  it('keeps serving through garbage and cut-off answers, then catches up', async () => {
    const fault = (spec: object) =>
      request(`${edge.apiUrl}/_edge/api-faults`, { method: 'POST', body: JSON.stringify(spec) }).then((x) =>
        x.body.text(),
      );
    await fault({ garbage: true, count: 3 });
    const deadline = Date.now() + 4000;
    let served = 0;
    while (Date.now() < deadline) {
      expect(await visit('one.example.com')).toBe(200);
      served++;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(served).toBeGreaterThan(10);
    await fault({ truncate: true, count: 3 });
    // Changes made now arrive once the answers are good again.
    await k.apply(ingress('two', [{ host: 'two.example.com', paths: [['/', 'Prefix', 'web']] }]));
    await waitUntil(
      async () => ((await visit('two.example.com')) === 200 ? true : undefined),
      30_000,
      'two.example.com by DNS',
    );
    expect(agent.proc.child.exitCode).toBeNull();
    expect(agent.proc.lines.some((l) => String(l.msg).includes('DNS sync failed'))).toBe(true);
  }, 60_000);
});
