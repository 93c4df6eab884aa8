import * as grpc from '@grpc/grpc-js';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { EchoClient, echoClient, unary, type EchoClientT } from '../test/helpers/grpc-echo.js';
import { startKubeSim } from '../test/helpers/kube.js';
import { INGRESS_CLASS, ingress, service, slice } from '../test/helpers/origins.js';
import path from 'node:path';
import { ROOT, spawnTs, waitUntil } from '../test/helpers/processes.js';
import {
  kubeAgentArgs,
  startAgent,
  startEdgeSim,
  type AgentProc,
  type EdgeSimProc,
} from '../test/helpers/stack.js';
import { fmt } from './format.js';
import { rssBytes } from '../test/helpers/proc-stats.js';

/**
 * Streams through the tunnel against the same origins reached directly, in one run: websocket echo
 * round trips, gRPC unary calls, server-sent event delay, and the agent's memory per idle websocket.
 */
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 10_000);
const CONCURRENCY = 32;
const IDLE_SOCKETS = Number(process.env.BENCH_IDLE_WEBSOCKETS ?? 10_000);

function wsOpen(url: string, host?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(host ? { headers: { host } } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Closed loop: each socket sends 64 bytes and waits for the echo. Round trips per second. */
async function wsEcho(url: string, host?: string): Promise<{ rate: number; p99: number }> {
  const sockets = await Promise.all(Array.from({ length: CONCURRENCY }, () => wsOpen(url, host)));
  const payload = Buffer.alloc(64, 7);
  const lat: number[] = [];
  const end = performance.now() + DURATION_MS;
  await Promise.all(
    sockets.map(async (ws) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          ws.once('message', () => resolve());
          ws.send(payload);
        });
        lat.push(performance.now() - t0);
      }
    }),
  );
  for (const ws of sockets) ws.terminate();
  lat.sort((a, b) => a - b);
  return { rate: lat.length / (DURATION_MS / 1000), p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

/** Closed loop of unary calls on one channel. Calls per second and failures. */
async function grpcUnary(client: EchoClientT): Promise<{ rate: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  const end = performance.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const r = await unary(client, { text: 'x' });
        if (r.err === undefined) ok++;
        else failed++;
      }
    }),
  );
  client.close();
  return { rate: ok / (DURATION_MS / 1000), failed };
}

/** One EventSource for the run: the delay from the origin's stamp to the event here, p50 and p99. */
async function sseDelay(url: string): Promise<{ events: number; p50: number; p99: number }> {
  const delays: number[] = [];
  const es = new EventSource(`${url}/events?every=20`);
  es.onmessage = (e) => delays.push(Date.now() - Number(e.data));
  await new Promise((r) => setTimeout(r, DURATION_MS));
  es.close();
  delays.sort((a, b) => a - b);
  const pct = (p: number) => delays[Math.floor(delays.length * p)] ?? NaN;
  return { events: delays.length, p50: pct(0.5), p99: pct(0.99) };
}

/** Opens `n` websockets through the edge and leaves them idle: agent RSS growth per socket. */
async function idleSockets(edge: EdgeSimProc, agentPid: number, n: number): Promise<string> {
  const url = edge.publicUrl.replace('http://', 'ws://') + '/idle';
  const before = rssBytes(agentPid);
  const open: WebSocket[] = [];
  let failed = 0;
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(200, n - i) }, () => wsOpen(url, 'ws.test')),
    );
    for (const b of batch) {
      if (b.status === 'fulfilled') open.push(b.value);
      else failed++;
    }
  }
  await new Promise((r) => setTimeout(r, 3000));
  const after = rssBytes(agentPid);
  // Still open after the wait: none was cut for being idle.
  const alive = open.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  for (const ws of open) ws.terminate();
  const perKiB = (after - before) / 1024 / Math.max(1, open.length);
  return `${fmt(open.length)} open (${failed} failed, ${fmt(alive)} still open after 3 s): agent RSS ${fmt(before / 2 ** 20)} → ${fmt(after / 2 ** 20)} MiB, **${fmt(perKiB, 1)} KiB per websocket**`;
}

/** An agent whose 4 connections, and only those, are registered at the edge. */
async function freshAgent(edge: EdgeSimProc, kubeconfig: string, protocol: string): Promise<AgentProc> {
  const agent = await startAgent(kubeAgentArgs(edge, 's', kubeconfig, ['--protocol', protocol]), {
    waitReady: 4,
  });
  await waitUntil(
    async () => ((await edge.tunnels())[0]?.connections.length === 4 ? true : undefined),
    15_000,
    'exactly 4 connections',
  );
  return agent;
}

/** SIGTERM, as a rollout does: the agent unregisters, so the edge routes nothing more to it. */
async function stopAgent(agent: AgentProc): Promise<void> {
  agent.proc.signal('SIGTERM');
  await agent.proc.exited;
}

export async function benchStreams(): Promise<string[]> {
  const origin = spawnTs('stream-origin', 'bench/stream-origin.ts', []);
  const ready = await origin.waitForMsg('stream origin listening');
  const port = ready.port as number;
  const grpcPort = ready.grpcPort as number;
  const k = await startKubeSim();
  // Node's fetch will not set Host: the EventSource reaches the catch-all rule through 127.0.0.1.
  const edge = await startEdgeSim({
    tunnels: ['s'],
    routes: ['ws.test=s', 'grpc.test=s', '127.0.0.1=s'],
  });
  const out: string[] = [];
  try {
    await k.kubectl(
      ['apply', '-f', '-'],
      [
        INGRESS_CLASS,
        service('streams'),
        slice('streams-1', 'streams', port, [{}]),
        service('grpc'),
        slice('grpc-1', 'grpc', grpcPort, [{}]),
        ingress('ws', [{ host: 'ws.test', paths: [['/', 'Prefix', 'streams']] }]),
        ingress('events', [{ paths: [['/events', 'Prefix', 'streams']] }]),
        ingress('grpc', [{ host: 'grpc.test', paths: [['/', 'Prefix', 'grpc']] }], '', {
          'tunnel-ingress.dev/backend-protocol': 'GRPC',
        }),
      ].join('---\n'),
    );
    const directWs = await wsEcho(`ws://127.0.0.1:${port}/`);
    const directGrpc = await grpcUnary(
      new EchoClient(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as EchoClientT,
    );
    const directSse = await sseDelay(`http://127.0.0.1:${port}`);
    const rows: string[] = [
      `| direct to the origin (baseline) | ${fmt(directWs.rate)} (p99 ${fmt(directWs.p99, 2)} ms) | ${fmt(directGrpc.rate)} | ${fmt(directSse.p50)} / ${fmt(directSse.p99)} ms (${directSse.events} events) |`,
    ];
    const idle: string[] = [];
    for (const protocol of ['http2', 'quic']) {
      let agent = await freshAgent(edge, k.agentKubeconfig, protocol);
      try {
        const wsUrl = edge.publicUrl.replace('http://', 'ws://') + '/';
        const w = await wsEcho(wsUrl, 'ws.test');
        const g = await grpcUnary(echoClient(edge.publicUrl, 'grpc.test'));
        const e = await sseDelay(edge.publicUrl);
        await stopAgent(agent);
        // A fresh agent for the memory figure: the load above left its heap grown.
        agent = await freshAgent(edge, k.agentKubeconfig, protocol);
        await new Promise((r) => setTimeout(r, 2000));
        rows.push(
          `| through the tunnel, ${protocol} | ${fmt(w.rate)} (p99 ${fmt(w.p99, 2)} ms) · ratio ${fmt(w.rate / directWs.rate, 2)} | ${fmt(g.rate)} · ratio ${fmt(g.rate / directGrpc.rate, 2)}${g.failed > 0 ? ` (${g.failed} failed)` : ''} | ${fmt(e.p50)} / ${fmt(e.p99)} ms (${e.events} events) |`,
        );
        idle.push(`- ${protocol}: ${await idleSockets(edge, agent.proc.child.pid as number, IDLE_SOCKETS)}`);
      } finally {
        await stopAgent(agent);
      }
    }
    out.push(
      `### Streams (${CONCURRENCY} concurrent clients, ${DURATION_MS / 1000} s each)`,
      '',
      '| path | websocket echo round trips/s | gRPC unary calls/s | SSE delay p50 / p99 |',
      '|---|---:|---:|---:|',
      ...rows,
      '',
      `### ${fmt(IDLE_SOCKETS)} idle websockets through one agent`,
      '',
      ...idle,
    );
  } finally {
    await edge.stop();
    await k.stop();
    await origin.stop();
  }
  return out;
}

/** The rollout test (test/e2e/rollout.test.ts) run once: requests sent and failed over its replacements. */
export async function benchRollout(): Promise<string[]> {
  const { execFile } = await import('node:child_process');
  const { readFile } = await import('node:fs/promises');
  await new Promise<void>((resolve, reject) =>
    execFile(
      'npx',
      ['vitest', 'run', 'test/e2e/rollout.test.ts', '-t', 'loses no request'],
      { cwd: ROOT },
      (err) => (err === null ? resolve() : reject(err)),
    ),
  );
  const r = JSON.parse(await readFile(path.join(ROOT, 'test-results', 'rollout.json'), 'utf8')) as {
    sent: number;
    failed: number;
    replacements: number;
    pods: number;
  };
  return [
    '### Rollout under load (test/e2e/rollout.test.ts)',
    '',
    `- ${fmt(r.sent)} requests from 8 closed-loop clients over ${r.replacements} pod replacements (${r.pods} pods served): **${r.failed} failed**`,
  ];
}
