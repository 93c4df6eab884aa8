import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CHART, HELM, IMAGE } from '../helpers/chart-rbac.js';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { run } from '../helpers/processes.js';

/**
 * A real `helm install` of the chart into the suite's real API server: every object the chart renders
 * passes the server's own validation and admission (kube-sim has no apps/v1 and would prove nothing),
 * the ServiceAccount gets exactly the access the chart means, an upgrade applies, and an uninstall
 * leaves nothing behind. The Deployment's pods never start (no kubelet), which is not the point here.
 */
const real = inject('kube').kind === 'kube-apiserver';

describe.skipIf(!real)('helm install into a real API server', () => {
  let k: KubeProc;
  const release = 'ti';
  const helm = (args: string[]) =>
    run(HELM, [...args, '--kubeconfig', k.kubeconfig, '--namespace', k.namespace]);
  const json = async (args: string[]) => JSON.parse((await k.kubectl([...args, '-o', 'json'])).stdout);
  const canI = async (verb: string, what: string, ns = k.namespace, subresource?: string) => {
    const r = await k.kubectl([
      'auth',
      'can-i',
      verb,
      what,
      ...(subresource === undefined ? [] : [`--subresource=${subresource}`]),
      '-n',
      ns,
      '--as',
      `system:serviceaccount:${k.namespace}:${release}-tunnel-ingress`,
    ]);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    k = await startKube();
  });

  afterAll(async () => {
    await helm(['uninstall', release]).catch(() => {});
    await k?.stop();
  });

  it('installs: the server accepts every object, and the ServiceAccount may do what the agent does', async () => {
    const { stdout } = await helm([
      'install',
      release,
      CHART,
      '--set',
      IMAGE,
      '--set',
      'tunnel.credentialsSecret=creds',
      '--set',
      'tunnel.edges={edge.example:7844}',
      '--set',
      `ingressClass.name=tunnel-${k.namespace}`,
    ]);
    expect(stdout).toContain('STATUS: deployed');
    const deploy = await json(['get', 'deployment', `${release}-tunnel-ingress`]);
    expect(deploy.spec.template.spec.serviceAccountName).toBe(`${release}-tunnel-ingress`);
    expect(deploy.spec.template.spec.containers[0].image).toMatch(/^registry\.example\/tunnel-ingress:/);
    const ic = await json(['get', 'ingressclass', `tunnel-${k.namespace}`]);
    expect(ic.spec.controller).toBe('tunnel-ingress.dev/agent');
    // What the agent does, and nothing it does not: it reads Secrets, never writes them.
    expect(await canI('watch', 'ingresses.networking.k8s.io')).toBe('yes');
    expect(await canI('patch', 'ingresses.networking.k8s.io', k.namespace, 'status')).toBe('yes');
    expect(await canI('watch', 'endpointslices.discovery.k8s.io', 'kube-system')).toBe('yes');
    expect(await canI('create', 'secrets')).toBe('no');
    expect(await canI('update', 'ingresses.networking.k8s.io')).toBe('no');
  });

  it('upgrades with watchNamespace: the Secrets of other namespaces are out of reach', async () => {
    const { stdout } = await helm([
      'upgrade',
      release,
      CHART,
      '--reuse-values',
      '--set',
      `watchNamespace=${k.namespace}`,
    ]);
    expect(stdout).toContain('STATUS: deployed');
    expect(await canI('list', 'secrets')).toBe('yes');
    expect(await canI('list', 'secrets', 'kube-system')).toBe('no');
  });

  it('uninstalls: nothing of the release is left, cluster-scoped objects included', async () => {
    await helm(['uninstall', release, '--wait']);
    const left = await k.kubectl([
      'get',
      'deployment,serviceaccount,role,rolebinding',
      '-l',
      `app.kubernetes.io/instance=${release}`,
      '-o',
      'name',
    ]);
    expect(left.stdout.trim()).toBe('');
    const ic = await k.kubectl(['get', 'ingressclass', `tunnel-${k.namespace}`]);
    expect(ic.stderr).toContain('NotFound');
    const cluster = await k.kubectl([
      'get',
      'clusterrole',
      '-l',
      `app.kubernetes.io/instance=${release}`,
      '-o',
      'name',
    ]);
    expect(cluster.stdout).not.toContain(`${release}-tunnel-ingress`);
  });
});
