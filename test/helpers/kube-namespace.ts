import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from 'undici';
import {
  type ControlPlane,
  compactEtcd,
  kubeconfigFor,
  restartApiServer,
  startControlPlane,
  stopControlPlane,
} from '../kube/control-plane.js';
import { AUDIT_DIR, chartRbacIn, collectionOf } from './chart-rbac.js';
import type { KubeProc, KubeSimOptions } from './kube.js';
import { apiClient, kubectl, kubectlApply } from './kube.js';
import { tempDir } from './processes.js';
import { logFileFor, registerSecret } from './secret-scan.js';

/**
 * One test's share of the suite's real control plane: a namespace of its own, the chart's RBAC
 * rendered for that namespace (its ServiceAccount, and the cluster-wide roles under names suffixed
 * with the namespace so that tests do not share them), and tokens for that ServiceAccount and an
 * unbound one from the TokenRequest API, as a pod would get them. The agent is kept to the namespace
 * with --watch-namespace and --leader-election-namespace.
 */
export async function startNamespace(cp: ControlPlane, opts: KubeSimOptions): Promise<KubeProc> {
  const namespace = `t-${randomBytes(4).toString('hex')}`;
  const dispatcher = new Agent({ connect: { ca: cp.caPem } });
  const api = apiClient(cp.url, cp.adminToken, dispatcher);
  const must = async (what: string, r: Promise<{ status: number; body: any }>) => {
    const res = await r;
    if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await must('namespace', api('POST', '/api/v1/namespaces', { metadata: { name: namespace } }));
  for (const o of chartRbacIn(opts.rbac ?? 'base', namespace)) {
    const obj = structuredClone(o) as any;
    if (o.kind.startsWith('Cluster')) obj.metadata.name = `${o.metadata.name}-${namespace}`;
    if (obj.roleRef?.kind === 'ClusterRole') obj.roleRef.name = `${obj.roleRef.name}-${namespace}`;
    await must(`the chart's ${o.kind} ${o.metadata.name}`, api('POST', collectionOf(o, namespace), obj));
  }
  await must(
    'the unbound ServiceAccount',
    api('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: 'unbound' } }),
  );
  const tokenFor = async (sa: string): Promise<string> => {
    const body = await must(
      `a token for ${sa}`,
      api('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      }),
    );
    const token = body.status.token as string;
    registerSecret(token);
    return token;
  };
  const tmp = await tempDir('kube-ns');
  const write = async (name: string, token: string) => {
    const p = path.join(tmp.dir, name);
    await writeFile(p, kubeconfigFor(cp.url, cp.caPem, token, namespace), { mode: 0o600 });
    return p;
  };
  const kubeconfig = await write('kubeconfig', cp.adminToken);
  const agentKubeconfig = await write('agent-kubeconfig', await tokenFor('tunnel-ingress'));
  const unboundKubeconfig = await write('unbound-kubeconfig', await tokenFor('unbound'));
  registerSecret(cp.adminToken);
  return {
    kind: 'kube-apiserver',
    url: cp.url,
    namespace,
    agentScope: ['--watch-namespace', namespace, '--leader-election-namespace', namespace],
    kubeconfig,
    token: cp.adminToken,
    agentKubeconfig,
    unboundKubeconfig,
    dispatcher,
    api,
    kubectl: (args, input) => kubectl(kubeconfig, args, input),
    apply: (yaml) => kubectlApply(kubeconfig, yaml),
    async stop() {
      // Every Event the agents wrote, for the suite-wide secret scan.
      const dump: string[] = [];
      for (const p of [
        `/api/v1/namespaces/${namespace}/events`,
        `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
      ]) {
        const res = await api('GET', p).catch(() => null);
        if (res !== null) dump.push(`== ${p} ${res.status}`, JSON.stringify(res.body));
      }
      await writeFile(logFileFor(`kube-apiserver-events-${namespace}`, process.pid), dump.join('\n')).catch(
        () => {},
      );
      // The namespace controller deletes what is in it; the test does not wait for that. The
      // cluster-wide roles stay (they go with the suite's control plane): a test may stop its API
      // server before its agents, and an agent still running must not meet a 403 the chart would
      // never cause (the RBAC check after the suite counts every one).
      await api('DELETE', `/api/v1/namespaces/${namespace}`).catch(() => null);
      await dispatcher.close();
      await tmp.remove();
    },
  };
}

/** An API server a test may restart and whose history it may compact: never the shared one. */
export interface FaultableKube extends KubeProc {
  /** stops and starts the API server on the same address and storage: every watch ends */
  restartApiServer(): Promise<void>;
  /** compacts the stored history, so that a watch resumed from before it gets 410 Gone */
  compactHistory(): Promise<void>;
}

/**
 * A real control plane of the test's own (a few seconds to start once built), for fault tests that
 * restart the API server or compact etcd, which would disturb every other test on the shared one.
 */
export async function startOwnControlPlane(opts: KubeSimOptions): Promise<FaultableKube> {
  const tmp = await tempDir('kube-own');
  const cp = await startControlPlane(tmp.dir, {
    auditLog: path.join(AUDIT_DIR, `kube-apiserver-${randomBytes(4).toString('hex')}.jsonl`),
  });
  const k = await startNamespace(cp, opts);
  return {
    ...k,
    restartApiServer: () => restartApiServer(cp),
    async compactHistory() {
      await compactEtcd(cp);
    },
    async stop() {
      await k.stop();
      await stopControlPlane(tmp.dir);
      await tmp.remove();
    },
  };
}
