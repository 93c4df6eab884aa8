import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { inject } from 'vitest';
import { parse } from 'yaml';
import { logFileFor, registerSecret } from './secret-scan.js';
import {
  AGENT_USER,
  AUDIT_DIR,
  CHART_NAMESPACE,
  chartRbac,
  collectionOf,
  type RbacValues,
} from './chart-rbac.js';
import { startNamespace, startOwnControlPlane, type FaultableKube } from './kube-namespace.js';
import { recordTarget } from './kube-targets.js';
import { ROOT, spawnTs, tempDir, type Proc } from './processes.js';

/** kube-sim as a process, kubectl against it, and raw API calls with its CA and token. */
export const KUBECTL = path.join(ROOT, '.tools/bin/kubectl');

/** A Kubernetes API server for one test: kube-sim of its own, or a namespace of the suite's real one. */
export interface KubeProc {
  kind: 'kube-sim' | 'kube-apiserver';
  url: string;
  /** where this test's objects go: kubectl's default namespace in `kubeconfig` */
  namespace: string;
  /**
   * Flags that keep an agent to this test's namespace on a server shared by the suite (its Ingresses,
   * Services, Secrets and Lease); none on a kube-sim of its own.
   */
  agentScope: string[];
  /** the administrator's (kubectl's) kubeconfig */
  kubeconfig: string;
  token: string;
  /** the agent's kubeconfig: the chart's ServiceAccount, held to the chart's RBAC */
  agentKubeconfig: string;
  /** another ServiceAccount's kubeconfig, bound to nothing: for tests of what the agent does when forbidden */
  unboundKubeconfig: string;
  dispatcher: Agent;
  api(
    method: Dispatcher.HttpMethod,
    p: string,
    body?: unknown,
    contentType?: string,
  ): Promise<{ status: number; body: any }>;
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** `kubectl apply -f -` as the administrator; throws with kubectl's words if it wrote anything to stderr */
  apply(yaml: string): Promise<string>;
  stop(): Promise<void>;
}

/** kube-sim: a server of the test's own, with its fault and inspection endpoints. */
export interface KubeSimProc extends KubeProc {
  proc: Proc;
  sim(p: string, body?: unknown, method?: Dispatcher.HttpMethod): Promise<any>;
  /** SIGTERM (kube-sim saves its state) and start again on the same port, CA and state: needs restartable */
  restart(): Promise<void>;
}

export interface KubeSimOptions {
  /** which of the chart's RBAC renderings binds the agent's ServiceAccount (default: base) */
  rbac?: RbacValues;
  /** keep the CA and objects on disk so that restart() brings the same server back */
  restartable?: boolean;
}

/**
 * kube-sim enforcing RBAC, with an administrator for kubectl and the chart's ServiceAccount for the
 * agent (test/helpers/chart-rbac.ts), its audit log in test-results/audit.
 */
export async function startKubeSim(
  extra: string[] = [],
  opts: KubeSimOptions = {},
  /** the suite's pods are processes on 127.0.0.1; false for kube-sim's (and the API server's) default */
  { allowLoopbackEndpoints = true }: { allowLoopbackEndpoints?: boolean } = {},
): Promise<KubeSimProc> {
  recordTarget('kube-sim');
  const tmp = await tempDir('kube');
  const kubeconfig = path.join(tmp.dir, 'kubeconfig');
  const adminToken = randomBytes(24).toString('hex');
  const agentToken = randomBytes(24).toString('hex');
  const unboundToken = randomBytes(24).toString('hex');
  const tokenFile = path.join(tmp.dir, 'tokens.csv');
  await writeFile(
    tokenFile,
    `${agentToken},${AGENT_USER},agent-uid\n${unboundToken},system:serviceaccount:${CHART_NAMESPACE}:unbound,unbound-uid\n`,
  );
  const args = [
    '--kubeconfig-out',
    kubeconfig,
    '--token',
    adminToken,
    '--token-auth-file',
    tokenFile,
    '--authorization-mode',
    'RBAC',
    ...(allowLoopbackEndpoints ? ['--allow-loopback-endpoints'] : []),
    '--audit-log-path',
    path.join(AUDIT_DIR, `kube-sim-${process.pid}-${randomBytes(4).toString('hex')}.jsonl`),
    ...(opts.restartable === true
      ? ['--tls-dir', path.join(tmp.dir, 'tls'), '--state', path.join(tmp.dir, 'state.json')]
      : []),
    ...extra,
  ];
  let proc = spawnTs('kube-sim', 'kube-sim/main.ts', ['--listen', '127.0.0.1:0', ...args]);
  const ready = await proc.waitForMsg('kube-sim listening', 20_000);
  const url = ready.url as string;
  const text = await readFile(kubeconfig, 'utf8');
  const cfg = parse(text) as {
    clusters: Array<{ cluster: { 'certificate-authority-data': string } }>;
    users: Array<{ user: { token: string } }>;
  };
  const ca = Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString();
  const token = cfg.users[0]!.user.token;
  const agentKubeconfig = path.join(tmp.dir, 'agent-kubeconfig');
  await writeFile(agentKubeconfig, text.replace(adminToken, agentToken), { mode: 0o600 });
  const unboundKubeconfig = path.join(tmp.dir, 'unbound-kubeconfig');
  await writeFile(unboundKubeconfig, text.replace(adminToken, unboundToken), { mode: 0o600 });
  for (const t of [adminToken, agentToken, unboundToken]) registerSecret(t);
  for (let i = 0; i < extra.length - 1; i++)
    if (extra[i] === '--token') registerSecret(extra[i + 1] as string);
  const dispatcher = new Agent({ connect: { ca } });
  const api = apiClient(url, token, dispatcher);
  for (const o of chartRbac(opts.rbac ?? 'base')) {
    const res = await api('POST', collectionOf(o, CHART_NAMESPACE), o);
    if (res.status !== 201)
      throw new Error(`the chart's ${o.kind} ${o.metadata.name}: ${JSON.stringify(res.body)}`);
  }
  const k: KubeSimProc = {
    kind: 'kube-sim',
    proc,
    url,
    namespace: 'default',
    agentScope: [],
    kubeconfig,
    token,
    agentKubeconfig,
    unboundKubeconfig,
    dispatcher,
    api,
    async sim(p, body, method = 'POST') {
      const res = await request(`${url}${p}`, {
        method,
        dispatcher,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res.body.json();
    },
    kubectl: (args, input) => kubectl(kubeconfig, args, input),
    apply: (yaml) => kubectlApply(kubeconfig, yaml),
    async restart() {
      if (opts.restartable !== true) throw new Error('startKubeSim: restart() needs restartable');
      proc.signal('SIGTERM');
      await proc.exited;
      proc = spawnTs('kube-sim', 'kube-sim/main.ts', ['--listen', new URL(url).host, ...args]);
      k.proc = proc;
      await proc.waitForMsg('kube-sim listening', 20_000);
    },
    async stop() {
      // Every Event the agents wrote, for the suite-wide secret scan.
      const dump: string[] = [];
      for (const p of ['/api/v1/events', '/apis/events.k8s.io/v1/events']) {
        const res = await api('GET', p).catch(() => null);
        if (res !== null) dump.push(`== ${p} ${res.status}`, JSON.stringify(res.body));
      }
      await writeFile(logFileFor('kube-sim-events', proc.child.pid), dump.join('\n')).catch(() => {});
      await proc.stop();
      await dispatcher.close();
      await tmp.remove();
    },
  };
  return k;
}

/** Raw API calls as one token's holder: JSON in, and JSON (or the text) and the status out. */
export function apiClient(url: string, token: string, dispatcher: Agent): KubeProc['api'] {
  return async (method, p, body, contentType = 'application/json') => {
    const res = await request(`${url}${p}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType, accept: 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // a non-JSON answer is returned as text
    }
    return { status: res.statusCode, body: parsed };
  };
}

/** kubectl with a kubeconfig; never throws (the exit code and both outputs are the answer). */
export function kubectl(
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      args,
      { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** `kubectl apply -f -`; throws with kubectl's words if it wrote anything to stderr. */
export async function kubectlApply(kubeconfig: string, yaml: string): Promise<string> {
  const r = await kubectl(kubeconfig, ['apply', '-f', '-'], yaml);
  if (r.stderr !== '') throw new Error(`kubectl apply: ${r.stderr}`);
  return r.stdout;
}

/**
 * The API server a Kubernetes-facing test should use: a namespace of the suite's real control plane
 * when there is one (test/kube/suite-target.ts), else a kube-sim of its own.
 */
export async function startKube(opts: KubeSimOptions = {}): Promise<KubeProc> {
  const target = inject('kube');
  if (target.kind === 'kube-sim') return startKubeSim([], opts);
  recordTarget('kube-apiserver');
  return startNamespace(target.controlPlane, opts);
}

/**
 * An API server the test may restart and compact: a real control plane of its own where the suite has
 * Go, else a restartable kube-sim. `sim` is there only on kube-sim, for faults a real server cannot be
 * told to produce (an error status on chosen requests).
 */
export async function startFaultableKube(
  opts: KubeSimOptions = {},
  simArgs: string[] = [],
): Promise<FaultableKube & { sim?: KubeSimProc['sim'] }> {
  const target = inject('kube');
  if (target.kind === 'kube-apiserver') {
    recordTarget('kube-apiserver');
    return startOwnControlPlane(opts);
  }
  const k = await startKubeSim(simArgs, { ...opts, restartable: true });
  return Object.assign(k, {
    restartApiServer: () => k.restart(),
    compactHistory: async () => {
      await k.sim('/_sim/compact');
    },
  });
}

export interface EventView {
  reason: string;
  message: string;
  involvedObject: { name: string };
}

/** The Events in the test's namespace, as kubectl shows them. */
export async function events(k: KubeProc): Promise<EventView[]> {
  const res = await k.kubectl(['get', 'events', '-o', 'json']);
  return (JSON.parse(res.stdout) as { items: EventView[] }).items;
}
