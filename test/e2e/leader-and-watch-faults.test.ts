import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultableKube } from '../helpers/kube.js';
import {
  INGRESS_CLASS,
  countingOrigin,
  ingress,
  service,
  slice,
  type CountingOrigin,
} from '../helpers/origins.js';
import { waitUntil } from '../helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../helpers/stack.js';

/** Two agent replicas: leader failover, and an API server that drops watches and compacts history. */
describe('replicas, leadership and a flaky API server', () => {
  let k: Awaited<ReturnType<typeof startFaultableKube>>;
  let edge: EdgeSimProc;
  let agents: AgentProc[] = [];
  let origin: CountingOrigin;

  const visit = async (host: string, path = '/echo') => {
    const res = await request(`${edge.publicUrl}${path}`, { headers: { host } });
    await res.body.text();
    return res.statusCode;
  };
  const holder = async () =>
    (await k.kubectl(['get', 'lease', 'tunnel-ingress-leader', '-o', 'jsonpath={.spec.holderIdentity}']))
      .stdout;
  const statusOf = async (name: string) =>
    (await k.kubectl(['get', 'ingress', name, '-o', 'jsonpath={.status.loadBalancer.ingress[0].hostname}']))
      .stdout;

  beforeAll(async () => {
    origin = await countingOrigin('steady');
    k = await startFaultableKube({}, ['--history', '1000']);
    edge = await startEdgeSim({ tunnels: ['ha'], routes: ['one.test=ha', 'two.test=ha', 'three.test=ha'] });
    await k.kubectl(
      ['apply', '-f', '-'],
      [
        INGRESS_CLASS,
        service('app'),
        slice('app-1', 'app', origin.port, [{}]),
        ingress('one', [{ host: 'one.test', paths: [['/', 'Prefix', 'app']] }]),
      ].join('---\n'),
    );
    agents = await Promise.all(
      [0, 1].map(() =>
        // HTTP/2, so that a SIGKILLed replica's connections close at once: this test is about
        // leadership, not about how fast a transport notices a dead peer.
        startAgent(kubeAgentArgs(edge, 'ha', k, ['--ha-connections', '2', '--protocol', 'http2']), {
          waitReady: 2,
        }),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await edge?.stop();
    await k?.stop();
    await origin?.close();
  });

  it('elects one leader; when it is SIGKILLed the other takes the Lease and writes status within the lease duration', async () => {
    const tunnelId = (await edge.tunnels())[0]!.id;
    await waitUntil(
      async () => ((await statusOf('one')) !== '' ? true : undefined),
      15_000,
      'status from the first leader',
    );
    const first = await holder();
    const leaderIdx = agents.findIndex((a) =>
      a.proc.lines.some((l) => l.msg === 'Kubernetes mode' && l.identity === first),
    );
    expect(leaderIdx).toBeGreaterThanOrEqual(0);
    const follower = agents[1 - leaderIdx]!;
    // Only the leader wrote: the follower logged no status write.
    expect(follower.proc.lines.some((l) => l.msg === 'ingress status written')).toBe(false);

    agents[leaderIdx]!.proc.signal('SIGKILL');
    const killedAt = Date.now();
    await k.kubectl(
      ['apply', '-f', '-'],
      ingress('two', [{ host: 'two.test', paths: [['/', 'Prefix', 'app']] }]),
    );
    // Traffic never stops: the survivor serves while leadership moves.
    expect(await visit('two.test')).toBe(200);
    await waitUntil(
      async () => ((await statusOf('two')) === `${tunnelId}.cfargotunnel.com` ? true : undefined),
      25_000,
      'status from the new leader',
    );
    const tookMs = Date.now() - killedAt;
    expect(await holder()).not.toBe(first);
    // lease duration 15 s, plus a retry period and some jitter
    expect(tookMs).toBeLessThan(15_000 + 2_500 + 1_500);
    expect(follower.proc.lines.some((l) => l.msg === 'became leader')).toBe(true);
  }, 40_000);

  it('relists after dropped watches and a compacted history: routes stay live, later changes arrive', async () => {
    const survivor = agents.find((a) => a.proc.child.exitCode === null && a.proc.child.signalCode === null)!;
    let failures = 0;
    let sent = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        sent++;
        if ((await visit('one.test').catch(() => 0)) !== 200) failures++;
      }
    })();
    // Every watch ends (kube-sim drops them; the real API server is restarted), the history they
    // would resume from is gone (410), and on kube-sim the first two relists of Ingresses fail too
    // (a real server cannot be told to).
    if (k.sim !== undefined) await k.sim('/_sim/drop-watches');
    else await k.restartApiServer();
    await k.compactHistory();
    await k.sim?.('/_sim/faults', [
      { method: 'GET', pathPrefix: '/apis/networking.k8s.io/v1/ingresses', status: 500, count: 2 },
    ]);
    await new Promise((r) => setTimeout(r, 500));
    await k.kubectl(
      ['apply', '-f', '-'],
      ingress('three', [{ host: 'three.test', paths: [['/', 'Prefix', 'app']] }]),
    );
    await waitUntil(
      async () => ((await visit('three.test')) === 200 ? true : undefined),
      // a restarted real API server refuses connections for a few seconds first, and the watches'
      // backoff grows meanwhile
      k.sim !== undefined ? 10_000 : 20_000,
      'a route added after the compaction',
    );
    stop = true;
    await load;
    expect(sent).toBeGreaterThan(20);
    expect(failures).toBe(0);
    expect(survivor.proc.lines.some((l) => l.msg === 'watch failed; restarting')).toBe(true);
  }, 45_000);
});
