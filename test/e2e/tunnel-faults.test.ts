import { readFile, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { spawnTs, tempDir } from '../helpers/processes.js';
import { agentArgs, startAgent, startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

describe('tunnel faults', () => {
  let edge: EdgeSimProc;
  let origin: { server: http.Server; port: number };
  let tmp: { dir: string; remove(): Promise<void> };

  beforeAll(async () => {
    origin = await startEchoOrigin('origin-f');
    edge = await startEdgeSim({
      tunnels: ['good', 'victim', 'grace'],
      routes: ['good.test=good', 'victim.test=victim', 'grace.test=grace'],
    });
    tmp = await tempDir('faults');
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    origin?.server.close();
    await tmp?.remove();
  });

  const visit = (host: string, p = '/echo') => request(`${edge.publicUrl}${p}`, { headers: { host } });

  it('a wrong secret is logged clearly and retried with backoff; the edge keeps serving others', async () => {
    const good = await startAgent(
      agentArgs(edge, 'good', `http://127.0.0.1:${origin.port}`, ['--ha-connections', '1']),
      { waitReady: 1 },
    );
    const creds = JSON.parse(await readFile(edge.credentialsFile('victim'), 'utf8')) as Record<
      string,
      string
    >;
    creds.TunnelSecret = Buffer.alloc(32, 0xab).toString('base64');
    const bad = path.join(tmp.dir, 'wrong-secret.json');
    await writeFile(bad, JSON.stringify(creds));
    const agent = await startAgent([
      '--credentials-file',
      bad,
      '--edge',
      edge.tunnelAddr,
      '--cacert',
      edge.caFile,
      '--url',
      `http://127.0.0.1:${origin.port}`,
    ]);
    try {
      const isRefusal = (l: { msg?: string }) => l.msg?.startsWith('the edge refused this tunnel') === true;
      const first = await agent.proc.waitFor(isRefusal, 10_000);
      expect(first.err).toContain('Invalid tunnel secret');
      expect(first.retryInMs).toEqual(expect.any(Number));
      await agent.proc.waitFor((l) => isRefusal(l) && l !== first, 15_000);
      expect(agent.proc.child.exitCode).toBeNull();
      // Nothing of the secret reaches the log.
      expect(agent.proc.raw.join('\n')).not.toContain(creds.TunnelSecret);
      const res = await visit('good.test');
      expect(res.statusCode).toBe(200);
      await res.body.text();
      const victim = await visit('victim.test');
      expect(victim.statusCode).toBe(530);
      await victim.body.text();
    } finally {
      await agent.stop();
      await good.stop();
    }
  }, 60_000);

  // HTTP/2 sees the TCP connections close at once; a killed QUIC connector says nothing, and the edge
  // routes away from it after 2 s of silence (the agent pings every second).
  it.each([
    ['http2', 2000],
    ['quic', 3500],
  ])(
    'a killed agent (%s) turns into 530 / error 1033 within %i ms; a dead origin into 502',
    async (protocol, within) => {
      const deadOrigin = await startEchoOrigin('doomed');
      const agent = await startAgent(
        agentArgs(edge, 'victim', `http://127.0.0.1:${deadOrigin.port}`, ['--protocol', String(protocol)]),
        {
          waitReady: 4,
        },
      );
      const ok = await visit('victim.test');
      expect(ok.statusCode).toBe(200);
      await ok.body.text();

      await new Promise<void>((r) => deadOrigin.server.close(() => r()));
      deadOrigin.server.closeAllConnections();
      const down = await visit('victim.test');
      expect(down.statusCode).toBe(502);
      expect(await down.body.text()).toContain('Error 502');

      agent.proc.signal('SIGKILL');
      const killedAt = Date.now();
      let status = 0;
      let body = '';
      while (Date.now() - killedAt < Number(within)) {
        // A request that went to the dead connection before the edge noticed can only fail when the
        // connection times out; poll with short timeouts rather than wait for it.
        try {
          const res = await request(`${edge.publicUrl}/echo`, {
            headers: { host: 'victim.test' },
            signal: AbortSignal.timeout(400),
          });
          status = res.statusCode;
          body = await res.body.text();
          if (status === 530) break;
        } catch {
          // timed out on the dead connection; try again
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(status).toBe(530);
      expect(body).toContain('Error 1033');
      expect(Date.now() - killedAt).toBeLessThan(Number(within));
    },
    60_000,
  );

  it.each(['http2', 'quic'])(
    'SIGTERM (%s) lets a 3 s request finish, routes nothing new there, and exits 0',
    async (protocol) => {
      const agent = await startAgent(
        agentArgs(edge, 'grace', `http://127.0.0.1:${origin.port}`, [
          '--grace-period',
          '10s',
          '--protocol',
          protocol,
        ]),
        { waitReady: 4 },
      );
      const inflight = visit('grace.test', '/slow/3000');
      await new Promise((r) => setTimeout(r, 300));
      agent.proc.signal('SIGTERM');
      await agent.proc.waitForMsg('shutting down: unregistering and draining');
      const [t] = (await edge.tunnels()).filter((x) => x.name === 'grace');
      await new Promise((r) => setTimeout(r, 200));
      const after = await visit('grace.test');
      expect(after.statusCode).toBe(530);
      await after.body.text();
      const res = await inflight;
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('slept 3000\n');
      expect(await agent.proc.exited).toBe(0);
      expect(t).toBeDefined();
    },
    60_000,
  );

  it.each(['http2', 'quic', 'auto'])(
    'verifies the edge certificate (%s): a foreign CA never connects, reported as a certificate error without a transport fallback; --no-tls-verify connects and warns',
    async (protocol) => {
      const foreign = path.join(tmp.dir, `foreign-ca-${protocol}.pem`);
      await writeFile(foreign, (await createPki()).caPem);
      const base = [
        '--credentials-file',
        edge.credentialsFile('good'),
        '--edge',
        edge.tunnelAddr,
        '--protocol',
        protocol,
        '--ha-connections',
        '1',
        '--url',
        `http://127.0.0.1:${origin.port}`,
      ];
      const refused = await startAgent([...base, '--cacert', foreign]);
      try {
        const said = "the edge's certificate did not verify: check --cacert; retrying";
        const failure = await refused.proc.waitForMsg(said, 15_000);
        expect(failure.code).toBe('EDGE_CERTIFICATE');
        expect(String(failure.err)).toMatch(/did not verify/);
        await refused.proc.waitFor((l) => l.msg === said && l !== failure, 15_000);
        // A certificate problem is not a blocked transport: auto stays where it is.
        expect(refused.proc.lines.some((l) => String(l.msg).includes('cannot reach the edge here'))).toBe(
          false,
        );
        expect(refused.proc.lines.some((l) => l.msg === 'tunnel connection failed; retrying')).toBe(false);
        const ready = await request(`${refused.metricsUrl}/ready`);
        expect(((await ready.body.json()) as { readyConnections: number }).readyConnections).toBe(0);
      } finally {
        await refused.stop();
      }
      const unverified = await startAgent([...base, '--no-tls-verify'], { waitReady: 1 });
      try {
        expect(
          unverified.proc.lines.some((l) => String(l.msg).includes('edge certificate verification is OFF')),
        ).toBe(true);
      } finally {
        await unverified.stop();
      }
    },
    60_000,
  );

  it('refuses malformed credentials at startup with a clear message', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--token', 'not-a-token!'], /tunnel token is not standard base64/],
      [
        ['--credentials-file', path.join(tmp.dir, 'missing.json')],
        /cannot read the credentials file .*ENOENT/,
      ],
      [
        ['--credentials-file', await writeTmp('broken.json', '{"AccountTag":')],
        /credentials file is not valid JSON/,
      ],
      [
        [
          '--credentials-file',
          await writeTmp(
            'short.json',
            JSON.stringify({
              AccountTag: 'a',
              TunnelSecret: 'c2hvcnQ=',
              TunnelID: '8b1d0c3a-58a4-4d5e-9b39-0f6c1f4c2a11',
            }),
          ),
        ],
        /at least 32 bytes/,
      ],
      [[], /no tunnel credentials/],
    ];
    for (const [args, message] of cases) {
      const proc = spawnTs('agent', 'agent/main.ts', [
        ...args,
        '--edge',
        edge.tunnelAddr,
        '--url',
        'http://127.0.0.1:1',
      ]);
      expect(await proc.exited).toBe(2);
      expect(proc.raw.join('\n')).toMatch(message);
    }
  }, 60_000);

  async function writeTmp(name: string, text: string): Promise<string> {
    const p = path.join(tmp.dir, name);
    await writeFile(p, text);
    return p;
  }
});
