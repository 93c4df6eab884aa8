import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { createPki } from '../../common/pki.js';
import { ROOT } from '../helpers/processes.js';
import { ensureBuilt, type GoBuild } from './go-build.js';

/**
 * A real Kubernetes control plane on 127.0.0.1, for tests and for `npm run kube`: etcd,
 * kube-apiserver and kube-controller-manager of one pinned release, built from the Go module proxy
 * (test/kube/go pins k8s.io/kubernetes with its staging modules at the published versions, and the
 * etcd server that release is tested with). Flags follow envtest and kubeadm: service account
 * signing keys, a static token file (an administrator and the chart's ServiceAccount), RBAC, an audit
 * log of audit.k8s.io/v1 events, and the controllers the agent meets in a cluster (namespace, garbage
 * collector, service accounts, EndpointSlice and its mirroring). The processes outlive the command
 * that started them; DIR/control-plane.json says how to reach and stop them.
 */
export const KUBERNETES_VERSION = 'v1.36.3';
export const ETCD_VERSION = 'v3.6.8';

export const KUBERNETES_BUILD: GoBuild = {
  moduleDir: path.join(ROOT, 'test', 'kube', 'go'),
  name: 'kube',
  version: KUBERNETES_VERSION,
  packages: [
    { pkg: 'go.etcd.io/etcd/server/v3', binary: 'server' },
    { pkg: 'k8s.io/kubernetes/cmd/kube-apiserver', binary: 'kube-apiserver' },
    { pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager', binary: 'kube-controller-manager' },
  ],
  coldEstimate: 'about 10 minutes on 2 cores',
};

/** The controllers a cluster runs that change what the agent sees. */
const CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
];

/** The chart's ServiceAccount in the default namespace: the agent's identity in the token file. */
export const AGENT_IDENTITY = 'system:serviceaccount:default:tunnel-ingress';

export interface ControlPlane {
  dir: string;
  version: string;
  /** https://127.0.0.1:PORT */
  url: string;
  /** the administrator's kubeconfig (system:masters) */
  kubeconfig: string;
  /** the agent's kubeconfig: the chart's ServiceAccount in default, bound to nothing until the chart is */
  agentKubeconfig: string;
  adminToken: string;
  agentToken: string;
  caPem: string;
  /** http://127.0.0.1:PORT, etcd's client URL (its JSON gateway compacts history for fault tests) */
  etcdUrl: string;
  auditLog: string;
  pids: { etcd: number; apiserver: number; controllerManager: number };
  /** how kube-apiserver was started, so that restartApiServer() starts it the same way */
  apiserverCommand: { bin: string; args: string[]; log: string };
}

export interface StartOptions {
  /** where the audit events go (default DIR/audit.log) */
  auditLog?: string;
  log?: (line: string) => void;
}

const STATE = 'control-plane.json';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A kubeconfig for one token; `namespace` becomes the context's default namespace. */
export function kubeconfigFor(url: string, caPem: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'testbed',
        cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'testbed', context: { cluster: 'testbed', user: 'user', namespace } }],
    'current-context': 'testbed',
  });
}

function spawnDetached(bin: string, args: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new Error(`${path.basename(bin)} did not start`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitFor(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
  pids: number[],
  logFile: string,
): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    const dead = pids.find((p) => !alive(p));
    if (dead !== undefined || Date.now() > until)
      throw new Error(
        `${what}: ${dead !== undefined ? `process ${dead} exited` : `not ready after ${ms / 1000} s`}; ` +
          `last lines of ${logFile}:\n${tail(logFile)}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The control plane recorded in DIR, or null when none was started there. */
export function readControlPlane(dir: string): ControlPlane | null {
  const file = path.join(dir, STATE);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as ControlPlane;
}

/** Builds if needed, then starts etcd, kube-apiserver and kube-controller-manager; resolves once ready. */
export async function startControlPlane(dir: string, opts: StartOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  dir = path.resolve(dir);
  const running = readControlPlane(dir);
  if (running !== null && alive(running.pids.apiserver))
    throw new Error(`a control plane is already running in ${dir} (${running.url}); stop it first`);
  const bin = await ensureBuilt(KUBERNETES_BUILD, log);
  const t0 = Date.now();
  for (const d of ['pki', 'etcd', 'logs']) mkdirSync(path.join(dir, d), { recursive: true });
  const pki = await createPki({
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default'],
    ipAddresses: ['127.0.0.1'],
    caName: 'tunnel-ingress test bed CA',
  });
  const file = (name: string, text: string, mode = 0o600): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text, { mode });
    return p;
  };
  const caFile = file('pki/ca.pem', pki.caPem, 0o644);
  const certFile = file('pki/apiserver.pem', pki.certPem, 0o644);
  const keyFile = file('pki/apiserver-key.pem', pki.keyPem);
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const saKey = file('pki/sa-key.pem', sa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const saPub = file('pki/sa.pem', sa.publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  const adminToken = randomBytes(24).toString('hex');
  const agentToken = randomBytes(24).toString('hex');
  const tokens = file(
    'tokens.csv',
    `${adminToken},admin,admin-uid,"system:masters"\n` +
      `${agentToken},${AGENT_IDENTITY},agent-uid,"system:serviceaccounts,system:serviceaccounts:default"\n`,
  );
  const auditPolicy = file(
    'audit-policy.yaml',
    'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n',
    0o644,
  );
  const auditLog = path.resolve(opts.auditLog ?? path.join(dir, 'audit.log'));
  mkdirSync(path.dirname(auditLog), { recursive: true });
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const url = `https://127.0.0.1:${apiPort}`;
  const logs = (n: string) => path.join(dir, 'logs', `${n}.log`);

  log(`kube: starting etcd ${ETCD_VERSION} on ${etcdUrl}`);
  const etcd = spawnDetached(
    path.join(bin, 'server'),
    [
      '--name=testbed',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=testbed=http://127.0.0.1:${peerPort}`,
      // A test bed: losing the last writes on a machine crash is fine; waiting for the disk is not.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logs('etcd'),
  );
  await waitFor(
    'etcd',
    30_000,
    async () => (await request(`${etcdUrl}/health`)).statusCode === 200,
    [etcd],
    logs('etcd'),
  );

  log(`kube: starting kube-apiserver ${KUBERNETES_VERSION} on ${url}`);
  const apiserverCommand = {
    bin: path.join(bin, 'kube-apiserver'),
    log: logs('kube-apiserver'),
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${certFile}`,
      `--tls-private-key-file=${keyFile}`,
      `--client-ca-file=${caFile}`,
      `--token-auth-file=${tokens}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--service-account-issuer=${url}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${auditLog}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
      '--v=0',
    ],
  };
  const apiserver = spawnDetached(apiserverCommand.bin, apiserverCommand.args, apiserverCommand.log);
  const dispatcher = new Agent({ connect: { ca: pki.caPem } });
  try {
    await waitForApiServer(url, pki.caPem, adminToken, [etcd, apiserver], apiserverCommand.log);
    const kubeconfig = file('kubeconfig', kubeconfigFor(url, pki.caPem, adminToken));
    const agentKubeconfig = file('agent-kubeconfig', kubeconfigFor(url, pki.caPem, agentToken));

    log('kube: starting kube-controller-manager');
    const controllerManager = spawnDetached(
      path.join(bin, 'kube-controller-manager'),
      [
        `--kubeconfig=${kubeconfig}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--v=0',
      ],
      logs('kube-controller-manager'),
    );
    // The service account controller at work is the sign that the controllers run.
    await waitFor(
      'kube-controller-manager',
      60_000,
      async () => {
        const res = await request(`${url}/api/v1/namespaces/default/serviceaccounts/default`, {
          dispatcher,
          headers: { authorization: `Bearer ${adminToken}` },
        });
        await res.body.text();
        return res.statusCode === 200;
      },
      [etcd, apiserver, controllerManager],
      logs('kube-controller-manager'),
    );
    const cp: ControlPlane = {
      dir,
      version: KUBERNETES_VERSION,
      url,
      kubeconfig,
      agentKubeconfig,
      adminToken,
      agentToken,
      caPem: pki.caPem,
      etcdUrl,
      auditLog,
      pids: { etcd, apiserver, controllerManager },
      apiserverCommand,
    };
    file(STATE, JSON.stringify(cp, null, 2));
    log(`kube: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; kubeconfig ${kubeconfig}`);
    return cp;
  } catch (err) {
    for (const pid of [apiserver, etcd]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    throw err;
  } finally {
    await dispatcher.close();
  }
}

async function waitForApiServer(
  url: string,
  caPem: string,
  adminToken: string,
  pids: number[],
  logFile: string,
): Promise<void> {
  const dispatcher = new Agent({ connect: { ca: caPem } });
  try {
    await waitFor(
      'kube-apiserver',
      90_000,
      async () => {
        const res = await request(`${url}/readyz`, {
          dispatcher,
          headers: { authorization: `Bearer ${adminToken}` },
        });
        await res.body.text();
        return res.statusCode === 200;
      },
      pids,
      logFile,
    );
  } finally {
    await dispatcher.close();
  }
}

async function terminate(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + 10_000;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Stops kube-apiserver and starts it again on the same port, flags and etcd: every watch ends, and
 * its watch cache starts over from etcd's current revision (after compact(), a watch resumed from an
 * older resourceVersion gets 410 Gone). For a control plane of one test's own, never the shared one.
 */
export async function restartApiServer(cp: ControlPlane): Promise<void> {
  await terminate(cp.pids.apiserver);
  const c = cp.apiserverCommand;
  cp.pids.apiserver = spawnDetached(c.bin, c.args, c.log);
  writeFileSync(path.join(cp.dir, STATE), JSON.stringify(cp, null, 2), { mode: 0o600 });
  await waitForApiServer(cp.url, cp.caPem, cp.adminToken, [cp.pids.etcd, cp.pids.apiserver], c.log);
}

/** Compacts etcd's history up to its current revision, through etcd's JSON gateway. */
export async function compactEtcd(cp: ControlPlane): Promise<number> {
  const post = async (p: string, body: unknown) => {
    const res = await request(`${cp.etcdUrl}${p}`, { method: 'POST', body: JSON.stringify(body) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`etcd ${p}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as { header: { revision: string } };
  };
  const { header } = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  await post('/v3/kv/compaction', { revision: header.revision, physical: true });
  return Number(header.revision);
}

/** Stops what startControlPlane started in DIR (SIGTERM, then SIGKILL after 10 s). False if nothing ran. */
export async function stopControlPlane(dir: string): Promise<boolean> {
  const cp = readControlPlane(path.resolve(dir));
  if (cp === null) return false;
  const order = [cp.pids.controllerManager, cp.pids.apiserver, cp.pids.etcd];
  const any = order.some(alive);
  for (const pid of order) await terminate(pid);
  return any;
}
