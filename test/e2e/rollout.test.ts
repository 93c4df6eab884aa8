import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { POD_IP, INGRESS_CLASS, ingress, service, slice } from '../helpers/origins.js';
import { ROOT, spawnTs, type Proc } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/**
 * A rolling update under steady load, as Kubernetes does it: for each pod, a new one starts and its
 * endpoint appears ready; the old endpoint turns terminating, then leaves the slice, then its process
 * stops. Over three replacements, on both transports, no request may fail.
 */
interface Pod {
  proc: Proc;
  port: number;
  slice: string;
}

describe.each(['http2', 'quic'])('rollout over %s', (protocol) => {
  let k: KubeProc;
  let edge: EdgeSimProc;
  let agent: AgentProc;
  const pods: Pod[] = [];
  let seq = 0;
  const startPod = async (): Promise<Pod> => {
    const name = `pod-${protocol}-${seq++}`;
    const proc = spawnTs(name, 'examples/origin/echo-origin.ts', [name, '0', POD_IP]);
    const ready = await proc.waitForMsg('origin listening', 20_000);
    const pod = { proc, port: ready.port as number, slice: `web-${name}` };
    await k.apply(slice(pod.slice, 'web', pod.port, [{}]));
    return pod;
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    k = await startKube();
    edge = await startEdgeSim({ tunnels: ['roll'], routes: ['roll.test=roll'] });
    await k.apply(
      [
        INGRESS_CLASS,
        service('web'),
        ingress('web', [{ host: 'roll.test', paths: [['/', 'Prefix', 'web']] }]),
      ].join('---\n'),
    );
    pods.push(await startPod(), await startPod());
    agent = await startAgent(
      kubeAgentArgs(edge, 'roll', k, ['--protocol', protocol, '--ha-connections', '2']),
      {
        waitReady: 2,
      },
    );
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await Promise.all(pods.map((p) => p.proc.stop()));
    await edge?.stop();
    await k?.stop();
  });

  it('loses no request over three pod replacements', async () => {
    let sent = 0;
    const failures: string[] = [];
    const served = new Map<string, number>();
    let running = true;
    const worker = async () => {
      while (running) {
        sent++;
        try {
          const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'roll.test' } });
          const body = await res.body.text();
          if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body.slice(0, 80)}`);
          else {
            const origin = (JSON.parse(body) as { origin: string }).origin;
            served.set(origin, (served.get(origin) ?? 0) + 1);
          }
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await pause(500);
    for (let r = 0; r < 3; r++) {
      const old = pods.shift() as Pod;
      pods.push(await startPod());
      await pause(400);
      await k.apply(slice(old.slice, 'web', old.port, [{ ready: false, terminating: true }]));
      await pause(400);
      const del = await k.kubectl(['delete', 'endpointslice', old.slice]);
      expect(del.code).toBe(0);
      await pause(400);
      old.proc.signal('SIGTERM');
      await old.proc.exited;
      await pause(300);
    }
    running = false;
    await load;
    // For `npm run bench -- rollout`, which reports these figures.
    await mkdir(path.join(ROOT, 'test-results'), { recursive: true });
    await writeFile(
      path.join(ROOT, 'test-results', 'rollout.json'),
      JSON.stringify({ sent, failed: failures.length, replacements: 3, pods: served.size }),
    );
    expect(sent).toBeGreaterThan(200);
    expect(failures).toEqual([]);
    // Every generation of pods served some of the load.
    expect(served.size).toBeGreaterThanOrEqual(5);
  }, 60_000);

  it('retries GETs on another endpoint when one still listed has died, and ejects it', async () => {
    const dead = await startPod();
    await pause(400);
    dead.proc.signal('SIGKILL');
    await dead.proc.exited;
    let failed = 0;
    let lastRay = '';
    for (let i = 0; i < 40; i++) {
      const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'roll.test' } });
      await res.body.text();
      if (res.statusCode !== 200) failed++;
      lastRay = String(res.headers['cf-ray']);
    }
    expect(failed).toBe(0);
    // The agent writes its log asynchronously (within 100 ms): the last request's line comes after
    // every retry line before it.
    await agent.proc.waitFor((l) => l.msg === 'request' && l.ray === lastRay, 5000);
    const retried = agent.proc.lines.filter(
      (l) =>
        l.msg === 'origin request retried on another endpoint' && l.from === `http://${POD_IP}:${dead.port}`,
    );
    // Round-robin sent about a third of the first requests to the dead endpoint; after five connect
    // failures it is ejected and gets none.
    expect(retried.length).toBe(5);
    // A POST whose connect is refused goes to another endpoint with its body whole (nothing of it was
    // read); a second dead pod, not yet ejected, shows it.
    const dead2 = await startPod();
    await pause(400);
    dead2.proc.signal('SIGKILL');
    await dead2.proc.exited;
    const body = 'b'.repeat(100_000);
    for (let i = 0; i < 6; i++) {
      const res = await request(`${edge.publicUrl}/echo`, {
        method: 'POST',
        body,
        headers: { host: 'roll.test' },
      });
      expect(res.statusCode).toBe(200);
      expect((JSON.parse(await res.body.text()) as { bodyLength: number }).bodyLength).toBe(body.length);
      lastRay = String(res.headers['cf-ray']);
    }
    await agent.proc.waitFor((l) => l.msg === 'request' && l.ray === lastRay, 5000);
    expect(
      agent.proc.lines.some(
        (l) =>
          l.msg === 'origin request retried on another endpoint' &&
          l.from === `http://${POD_IP}:${dead2.port}` &&
          l.method === 'POST',
      ),
    ).toBe(true);
    await k.kubectl(['delete', 'endpointslice', dead2.slice]);
    await k.kubectl(['delete', 'endpointslice', dead.slice]);
  }, 60_000);
});
