import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { parseCredentialsFile } from '../../tunnel/credentials.js';
import { startKube, startKubeSim, type KubeProc, type KubeSimProc } from './kube.js';
import { spawnTs, tempDir, waitUntil, type Proc } from './processes.js';
import { logFileFor, registerSecret } from './secret-scan.js';

/** edge-sim and agent processes wired together, as a test needs them. */
export interface EdgeSimProc {
  proc: Proc;
  stateDir: string;
  tunnelAddr: string;
  publicUrl: string;
  apiUrl: string;
  credentialsFile(name: string): string;
  tokenFile(name: string): string;
  caFile: string;
  /** the account edge-sim's tunnels and zones belong to */
  account: string;
  tunnels(): Promise<EdgeTunnelView[]>;
  stop(): Promise<void>;
}

export interface EdgeConnectionView {
  id: string;
  connIndex: number;
  clientId: string;
  clientVersion: string;
  features: string[];
  draining: boolean;
  inflight: number;
  location: string;
  protocol: 'http2' | 'quic';
}

export interface EdgeTunnelView {
  id: string;
  name: string;
  connections: EdgeConnectionView[];
}

export async function startEdgeSim(opts: {
  tunnels: string[];
  routes: string[];
  stateDir?: string;
  tunnelPort?: number;
  /** where connectors dial in (default 127.0.0.1); 0.0.0.0 lets a connector reach it on several loopback addresses */
  tunnelHost?: string;
  /** fixed ports, so that an edge-sim started again on the same state dir is where visitors expect it */
  publicPort?: number;
  apiPort?: number;
  extra?: string[];
}): Promise<EdgeSimProc> {
  const tmp = opts.stateDir === undefined ? await tempDir('edge') : null;
  const stateDir = opts.stateDir ?? (tmp as { dir: string }).dir;
  const args = [
    '--state-dir',
    stateDir,
    '--tunnel-listen',
    `${opts.tunnelHost ?? '127.0.0.1'}:${opts.tunnelPort ?? 0}`,
    '--public-listen',
    `127.0.0.1:${opts.publicPort ?? 0}`,
    '--api-listen',
    `127.0.0.1:${opts.apiPort ?? 0}`,
    ...opts.tunnels.flatMap((t) => ['--create-tunnel', t]),
    ...opts.routes.flatMap((r) => ['--route', r]),
    ...(opts.extra ?? []),
  ];
  const proc = spawnTs('edge-sim', 'edge-sim/main.ts', args);
  const ready = await proc.waitForMsg('edge-sim listening', 20_000);
  const apiUrl = `http://${ready.api as string}`;
  for (const t of opts.tunnels) {
    const creds = parseCredentialsFile(await readFile(path.join(stateDir, 'tunnels', `${t}.json`), 'utf8'));
    registerSecret(creds.tunnelSecret.toString('base64'));
    registerSecret((await readFile(path.join(stateDir, 'tunnels', `${t}.token`), 'utf8')).trim());
  }
  for (let i = 0; i < (opts.extra ?? []).length - 1; i++) {
    if (opts.extra?.[i] === '--api-token')
      registerSecret((opts.extra[i + 1] as string).replace(/^[^:]*:/, ''));
  }
  return {
    proc,
    stateDir,
    tunnelAddr: ready.tunnel as string,
    publicUrl: `http://${ready.public as string}`,
    apiUrl,
    caFile: path.join(stateDir, 'ca.pem'),
    account: (await readFile(path.join(stateDir, 'account-tag'), 'utf8')).trim(),
    credentialsFile: (name) => path.join(stateDir, 'tunnels', `${name}.json`),
    tokenFile: (name) => path.join(stateDir, 'tunnels', `${name}.token`),
    async tunnels() {
      const res = await request(`${apiUrl}/_edge/tunnels`);
      return ((await res.body.json()) as { tunnels: EdgeTunnelView[] }).tunnels;
    },
    async stop() {
      await proc.stop();
      await tmp?.remove();
    },
  };
}

export interface AgentProc {
  proc: Proc;
  metricsUrl: string;
  stop(): Promise<void>;
}

export async function startAgent(
  args: string[],
  opts: { waitReady?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentProc> {
  const proc = spawnTs('agent', 'agent/main.ts', ['--metrics', '127.0.0.1:0', ...args], opts.env);
  const started = await proc.waitForMsg('tunnel-ingress starting', 20_000);
  const metricsUrl = `http://${started.metrics as string}`;
  if (opts.waitReady !== undefined) {
    const want = opts.waitReady;
    await waitUntil(
      async () => {
        const res = await request(`${metricsUrl}/ready`);
        const body = (await res.body.json()) as { readyConnections: number };
        return body.readyConnections >= want ? true : undefined;
      },
      20_000,
      `${want} ready tunnel connections`,
    );
  }
  return {
    proc,
    metricsUrl,
    async stop() {
      await dumpAdminOutput(proc, metricsUrl);
      await proc.stop();
    },
  };
}

/**
 * What a live agent shows on its admin endpoints (metrics with their labels, the route table, the
 * request ring, the dashboard's data), saved beside its log so that the suite-wide secret scan
 * searches those too.
 */
const ADMIN_PATHS = ['/metrics', '/debug/routes', '/requests', '/api/overview'];

async function dumpAdminOutput(proc: Proc, metricsUrl: string): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const parts: string[] = [];
  for (const p of ADMIN_PATHS) {
    try {
      const res = await request(`${metricsUrl}${p}`, { signal: AbortSignal.timeout(2000) });
      parts.push(`== ${p} ${res.statusCode}`, await res.body.text());
    } catch {
      // a wedged or dying agent: its log is still scanned
    }
  }
  if (parts.length > 0) await writeFile(logFileFor('agent-admin', proc.child.pid), parts.join('\n'));
}

/** The tunnel half of an agent's command line: credentials, edge and CA from edge-sim. */
function tunnelArgs(edge: EdgeSimProc, tunnel: string): string[] {
  return [
    '--credentials-file',
    edge.credentialsFile(tunnel),
    '--edge',
    edge.tunnelAddr,
    '--cacert',
    edge.caFile,
  ];
}

/** Arguments for an agent in static mode (--url). */
export function agentArgs(
  edge: EdgeSimProc,
  tunnel: string,
  originUrl: string,
  extra: string[] = [],
): string[] {
  return [...tunnelArgs(edge, tunnel), '--url', originUrl, ...extra];
}

/**
 * Real cloudflared's command line for a tunnel of edge-sim: `cloudflared tunnel … run` with the
 * tunnel's credentials file, edge-sim's CA and one origin. `edges`: the edge addresses (default the
 * one tunnel address; cloudflared keeps one connection per address).
 */
export async function cloudflaredArgs(
  edge: EdgeSimProc,
  tunnel: string,
  originUrl: string,
  protocol: string,
  edges: string[] = [edge.tunnelAddr],
): Promise<string[]> {
  const creds = JSON.parse(await readFile(edge.credentialsFile(tunnel), 'utf8')) as { TunnelID: string };
  return [
    'tunnel',
    '--no-autoupdate',
    ...edges.flatMap((e) => ['--edge', e]),
    '--cacert',
    edge.caFile,
    '--protocol',
    protocol,
    'run',
    '--credentials-file',
    edge.credentialsFile(tunnel),
    '--url',
    originUrl,
    creds.TunnelID,
  ];
}

/** The agent's Cloudflare API arguments against edge-sim's API; the token from a file unless left out. */
export function cloudflareArgs(edge: EdgeSimProc, tokenFile?: string): string[] {
  return [
    ...(tokenFile === undefined ? [] : ['--cloudflare-api-token-file', tokenFile]),
    '--account-id',
    edge.account,
    '--cloudflare-api-base-url',
    `${edge.apiUrl}/client/v4`,
  ];
}

/**
 * Arguments for an agent in Kubernetes mode: as the chart's ServiceAccount of a test's API server (kept
 * to the test's namespace where the server is shared), or with a kubeconfig file of the test's own.
 */
export function kubeAgentArgs(
  edge: EdgeSimProc,
  tunnel: string,
  kube: string | Pick<KubeProc, 'agentKubeconfig' | 'agentScope'>,
  extra: string[] = [],
): string[] {
  const scope = typeof kube === 'string' ? [] : kube.agentScope;
  const kubeconfig = typeof kube === 'string' ? kube : kube.agentKubeconfig;
  return [...tunnelArgs(edge, tunnel), '--kubeconfig', kubeconfig, ...scope, ...extra];
}

/**
 * An API server (startKube's choice, or kube-sim where the test needs its fault and request-record
 * endpoints), edge-sim and one agent in Kubernetes mode: the stack most end-to-end tests start with.
 */
export interface KubeStack<K extends KubeProc = KubeProc> {
  k: K;
  edge: EdgeSimProc;
  agent: AgentProc;
  stop(): Promise<void>;
}

export interface StackOptions {
  hosts: string[];
  objects: string[];
  agentArgs?: string[];
  connections?: number;
  /** kube-sim even where the suite has a real API server */
  kubeSim?: boolean;
}

/**
 * Starts the stack with `objects` applied before the agent starts (tunnel `t`, every host in `hosts`
 * routed to it) and waits for the agent's tunnel connections.
 */
export async function startKubeStack(opts: StackOptions & { kubeSim: true }): Promise<KubeStack<KubeSimProc>>;
export async function startKubeStack(opts: StackOptions): Promise<KubeStack>;
export async function startKubeStack(opts: StackOptions): Promise<KubeStack> {
  const connections = opts.connections ?? 1;
  const k = opts.kubeSim === true ? await startKubeSim() : await startKube();
  const edge = await startEdgeSim({ tunnels: ['t'], routes: opts.hosts.map((h) => `${h}=t`) });
  if (opts.objects.length > 0) await k.apply(opts.objects.join('---\n'));
  const agent = await startAgent(
    kubeAgentArgs(edge, 't', k, ['--ha-connections', String(connections), ...(opts.agentArgs ?? [])]),
    { waitReady: connections },
  );
  return {
    k,
    edge,
    agent,
    async stop() {
      await agent.stop();
      await edge.stop();
      await k.stop();
    },
  };
}
