import { readFile, writeFile } from 'node:fs/promises';
import type http from 'node:http';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki } from '../../common/pki.js';
import { startEchoOrigin } from '../../examples/origin/echo-origin.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { spawnTs, tempDir, waitUntil } from '../helpers/processes.js';
import { startAgent, startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/**
 * The agent started with nothing but a tunnel token finds the edge as cloudflared does: the SRV
 * record _v2-origintunneld._tcp.argotunnel.com, served here by a local DNS server naming edge-sim's
 * two regions (test-only --edge-discovery-resolver points the agent at it). Also: a region's records
 * and listener disappearing, the DNS-over-TLS fallback when the resolver mangles SRV answers, and a
 * clear failure when there is no edge to find.
 */
const SRV = '_v2-origintunneld._tcp.argotunnel.com';

describe('edge discovery', () => {
  let edge: EdgeSimProc;
  let dns: TestDnsServer;
  let origin: { server: http.Server; port: number };
  let tmp: { dir: string; remove(): Promise<void> };
  let dnsCaFile: string;
  let region2: { host: string; port: number };
  /** a TCP proxy in front of region 2's listener, to take that region away */
  let proxy: net.Server;
  const proxied = new Set<net.Socket>();

  beforeAll(async () => {
    tmp = await tempDir('discovery');
    const dnsPki = await createPki({ dnsNames: ['cloudflare-dns.com'], caName: 'test DoT CA' });
    dnsCaFile = path.join(tmp.dir, 'dot-ca.pem');
    await writeFile(dnsCaFile, dnsPki.caPem);
    dns = await startDnsServer({ cert: dnsPki.certPem, key: dnsPki.keyPem });
    origin = await startEchoOrigin('discovered');
    edge = await startEdgeSim({
      tunnels: ['d'],
      routes: ['d.test=d'],
      extra: ['--region-listen', 'R2=127.0.0.1:0'],
    });
    const r2 = (
      edge.proc.lines.find((l) => l.msg === 'edge-sim listening')?.regions as Record<string, string>
    ).R2 as string;
    region2 = { host: '127.0.0.1', port: Number(r2.split(':')[1]) };
    proxy = net.createServer((client) => {
      proxied.add(client);
      const upstream = net.connect(region2.port, region2.host);
      proxied.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  }, 60_000);

  /** Both regions in DNS; region 2 straight to edge-sim, or through the proxy that can take it away. */
  const publishRegions = (viaProxy: boolean) => {
    dns.srv.set(SRV.toLowerCase(), [
      { target: 'region1.v2.argotunnel.com', port: Number(edge.tunnelAddr.split(':')[1]) },
      {
        target: 'region2.v2.argotunnel.com',
        port: viaProxy ? (proxy.address() as net.AddressInfo).port : region2.port,
      },
    ]);
    dns.a.set('region1.v2.argotunnel.com', ['127.0.0.1']);
    dns.a.set('region2.v2.argotunnel.com', ['127.0.0.1']);
  };

  afterAll(async () => {
    proxy?.close();
    for (const s of proxied) s.destroy();
    await dns?.close();
    await edge?.stop();
    origin?.server.close();
    await tmp?.remove();
  });

  /** The tunnel's token, as a user copies it from the dashboard. */
  const token = async () => (await readFile(edge.tokenFile('d'), 'utf8')).trim();
  const agentWith = async (protocol: string, extra: string[] = [], env?: NodeJS.ProcessEnv) =>
    startAgent(
      [
        '--token',
        await token(),
        '--cacert',
        edge.caFile,
        '--url',
        `http://127.0.0.1:${origin.port}`,
        '--protocol',
        protocol,
        '--edge-discovery-resolver',
        `127.0.0.1:${dns.udpPort}`,
        ...extra,
      ],
      { waitReady: 4, ...(env === undefined ? {} : { env }) },
    );
  const locations = async () =>
    ((await edge.tunnels())[0]?.connections ?? []).map((c) => [c.connIndex, c.location] as const).sort();
  const serves = async () => {
    const res = await request(`${edge.publicUrl}/echo`, { headers: { host: 'd.test' } });
    await res.body.text();
    return res.statusCode;
  };

  it.each(['http2', 'quic'])(
    'registers 4 connections across both regions with only a token (%s)',
    async (protocol) => {
      // (QUIC is UDP on the same port number: the TCP proxy is only for the region-loss test.)
      publishRegions(false);
      const agent = await agentWith(protocol);
      try {
        await waitUntil(
          async () => ((await locations()).length === 4 ? true : undefined),
          10_000,
          '4 connections',
        );
        expect(await locations()).toEqual([
          [0, 'SIM'],
          [1, 'R2'],
          [2, 'SIM'],
          [3, 'R2'],
        ]);
        expect(agent.proc.lines.find((l) => l.msg === 'edge discovered')?.srv).toBe(SRV);
        expect(await serves()).toBe(200);
      } finally {
        await agent.stop();
      }
    },
    30_000,
  );

  it("survives one region's records and listener disappearing: every connection moves to the other", async () => {
    publishRegions(true);
    const agent = await agentWith('http2');
    await waitUntil(
      async () => ((await locations()).length === 4 ? true : undefined),
      10_000,
      '4 connections',
    );
    expect((await locations()).map(([, loc]) => loc).sort()).toEqual(['R2', 'R2', 'SIM', 'SIM']);
    try {
      dns.srv.set(SRV.toLowerCase(), dns.srv.get(SRV.toLowerCase())!.slice(0, 1));
      dns.a.delete('region2.v2.argotunnel.com');
      proxy.close();
      for (const s of proxied) s.destroy();
      await waitUntil(
        async () => {
          const l = await locations();
          return l.length === 4 && l.every(([, loc]) => loc === 'SIM') ? true : undefined;
        },
        20_000,
        'all 4 connections in the remaining region',
      );
      expect(await serves()).toBe(200);
      expect(agent.proc.child.exitCode).toBeNull();
    } finally {
      await agent.stop();
    }
  }, 40_000);

  it('falls back to DNS over TLS when the resolver mangles SRV answers, as cloudflared does', async () => {
    publishRegions(false);
    dns.refuseSrv = true;
    dns.queries.length = 0;
    const agent = await agentWith('http2', ['--edge-discovery-dot', `127.0.0.1:${dns.dotPort}`], {
      NODE_EXTRA_CA_CERTS: dnsCaFile,
    });
    try {
      expect(dns.queries).toContain(`SRV ${SRV}`);
      expect(dns.queries).toContain(`SRV ${SRV} (TLS)`);
      expect(await serves()).toBe(200);
    } finally {
      dns.refuseSrv = false;
      await agent.stop();
    }
  }, 30_000);

  it('stops at start with one clear line when the edge cannot be found', async () => {
    const proc = spawnTs('agent-nodiscovery', 'agent/main.ts', [
      '--token',
      await token(),
      '--url',
      'http://127.0.0.1:9',
      '--region',
      'nowhere',
      '--edge-discovery-resolver',
      `127.0.0.1:${dns.udpPort}`,
      '--edge-discovery-dot',
      '127.0.0.1:1',
    ]);
    expect(await proc.exited).toBe(2);
    expect(proc.raw.join('\n')).toContain(
      "cannot look up the edge's SRV record _nowhere-v2-origintunneld._tcp.argotunnel.com",
    );
  }, 30_000);

  it("lets Cloudflare's protocol record choose auto's transport, as cloudflared does", async () => {
    publishRegions(false);
    const registeredOver = (a: { proc: { lines: Array<Record<string, unknown>> } }) => [
      ...new Set(a.proc.lines.filter((l) => l.msg === 'Registered tunnel connection').map((l) => l.protocol)),
    ];
    dns.txt.set(
      'protocol-v2.argotunnel.com',
      '[{"protocol":"quic","percentage":100},{"protocol":"http2","percentage":100}]',
    );
    let agent = await agentWith('auto');
    try {
      expect(registeredOver(agent)).toEqual(['quic']);
    } finally {
      await agent.stop();
    }
    dns.txt.set(
      'protocol-v2.argotunnel.com',
      '[{"protocol":"quic","percentage":0},{"protocol":"http2","percentage":100}]',
    );
    agent = await agentWith('auto');
    try {
      expect(registeredOver(agent)).toEqual(['http2']);
    } finally {
      dns.txt.delete('protocol-v2.argotunnel.com');
      await agent.stop();
    }
  }, 40_000);

  it('moves back to QUIC once it gets through again, after auto fell back to HTTP/2, losing no request', async () => {
    dns.txt.set('protocol-v2.argotunnel.com', '[{"protocol":"quic","percentage":100}]');
    // Both regions behind relays that pass TCP and, once allowed, UDP (QUIC).
    const relays = [await startRelay(Number(edge.tunnelAddr.split(':')[1])), await startRelay(region2.port)];
    dns.srv.set(SRV.toLowerCase(), [
      { target: 'region1.v2.argotunnel.com', port: relays[0]!.port },
      { target: 'region2.v2.argotunnel.com', port: relays[1]!.port },
    ]);
    dns.a.set('region1.v2.argotunnel.com', ['127.0.0.1']);
    dns.a.set('region2.v2.argotunnel.com', ['127.0.0.1']);
    const agent = await agentWith('auto', ['--quic-recovery-interval', '1s']);
    try {
      const over = () =>
        agent.proc.lines.filter((l) => l.msg === 'Registered tunnel connection').map((l) => l.protocol);
      expect(new Set(over())).toEqual(new Set(['http2']));
      let failed = 0;
      let sent = 0;
      let stop = false;
      const load = (async () => {
        while (!stop) {
          sent++;
          if ((await serves().catch(() => 0)) !== 200) failed++;
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      for (const r of relays) r.udp = true;
      await agent.proc.waitForMsg('QUIC reaches the edge again; moving the connections back to QUIC', 15_000);
      await waitUntil(
        async () => {
          const live = (await edge.tunnels())[0]?.connections ?? [];
          const lines = agent.proc.lines.filter((l) => l.msg === 'Registered tunnel connection');
          return live.length === 4 && lines.slice(-4).every((l) => l.protocol === 'quic') ? true : undefined;
        },
        40_000,
        'all 4 connections back on QUIC',
      );
      stop = true;
      await load;
      expect(sent).toBeGreaterThan(20);
      expect(failed).toBe(0);
    } finally {
      dns.txt.delete('protocol-v2.argotunnel.com');
      await agent.stop();
      for (const r of relays) r.close();
    }
  }, 90_000);

  it.each(['http2', 'quic'])(
    'leaves from --edge-bind-address (%s)',
    async (protocol) => {
      const agent = await startAgent(
        [
          '--token',
          await token(),
          '--edge',
          edge.tunnelAddr,
          '--cacert',
          edge.caFile,
          '--url',
          `http://127.0.0.1:${origin.port}`,
          '--protocol',
          protocol,
          '--ha-connections',
          '1',
          '--edge-bind-address',
          '127.0.0.2',
        ],
        { waitReady: 1 },
      );
      try {
        // (the connections of the agents before it may take the edge's QUIC idle timeout to go)
        await waitUntil(
          async () => (((await edge.tunnels())[0]?.connections ?? []).length === 1 ? true : undefined),
          15_000,
          'only this agent connected',
        );
        const conns = (await edge.tunnels())[0]?.connections ?? [];
        expect(
          conns.map((c) => (c as unknown as { remoteAddress: string }).remoteAddress.replace(/:\d+$/, '')),
        ).toEqual(['127.0.0.2']);
      } finally {
        await agent.stop();
      }
    },
    30_000,
  );

  it('--edge-ip-version 6 finds no edge where the regions have only IPv4 addresses, and says so', async () => {
    publishRegions(false);
    const proc = spawnTs('agent-v6', 'agent/main.ts', [
      '--token',
      await token(),
      '--url',
      'http://127.0.0.1:9',
      '--edge-ip-version',
      '6',
      '--edge-discovery-resolver',
      `127.0.0.1:${dns.udpPort}`,
    ]);
    expect(await proc.exited).toBe(2);
    expect(proc.raw.join('\n')).toContain(
      "the edge's SRV target region1.v2.argotunnel.com has no IPv6 address",
    );
  }, 30_000);
});

/**
 * A relay on one port number for TCP (always passed) and UDP (passed once `udp` is set), in front of an
 * edge listener: QUIC blocked, then unblocked, while HTTP/2 gets through throughout.
 */
async function startRelay(target: number): Promise<{ port: number; udp: boolean; close(): void }> {
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((client) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(client).add(up);
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket('udp4');
  const upstreams = new Map<string, dgram.Socket>();
  const relay = {
    port,
    udp: false,
    close() {
      tcp.close();
      for (const s of sockets) s.destroy();
      udp.close();
      for (const u of upstreams.values()) u.close();
    },
  };
  udp.on('message', (msg, from) => {
    if (!relay.udp) return;
    const key = `${from.address}:${from.port}`;
    let up = upstreams.get(key);
    if (up === undefined) {
      up = dgram.createSocket('udp4');
      up.on('message', (back) => {
        if (relay.udp) udp.send(back, from.port, from.address);
      });
      upstreams.set(key, up);
    }
    up.send(msg, target, '127.0.0.1');
  });
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  return relay;
}
