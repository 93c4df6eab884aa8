import { describe, expect, it } from 'vitest';
import { CHART, HELM, IMAGE, helmTemplate } from '../helpers/chart-rbac.js';
import { run } from '../helpers/processes.js';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: any };
  [k: string]: any;
};

async function render(sets: string[]): Promise<Obj[]> {
  return helmTemplate<Obj>('ti', 'tunnels', sets);
}

/** Validates an object against the kubernetes-models schema of its apiVersion and kind. */
async function validate(o: Obj): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const mod =
    group === 'monitoring.coreos.com'
      ? await import(`@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`)
      : await import(`kubernetes-models/${group === '' ? '' : group + '/'}${version}/${o.kind}`);
  const Model = mod[o.kind] as new (d: unknown) => { validate(): void };
  new Model(o).validate();
}

const BASE = [
  'tunnel.credentialsSecret=creds',
  'tunnel.edges={region1.example:7844,region2.example:7844}',
  IMAGE,
];
const VALUE_SETS: Record<string, string[]> = {
  defaults: BASE,
  everything: [
    IMAGE,
    'tunnel.tokenSecret=tok',
    'tunnel.edges={edge.example:7844}',
    'tunnel.caSecret=edge-ca',
    'tunnel.protocol=http2',
    'ingressClass.default=true',
    'watchIngressWithoutClass=true',
    'watchNamespace=apps',
    'metrics.serviceMonitor.enabled=true',
    'accessLog=false',
    'replicaCount=3',
  ],
  cloudflare: [
    IMAGE,
    'tunnel.edges={edge.example:7844}',
    'cloudflare.apiTokenSecret=cf-api',
    'cloudflare.accountId=0123456789abcdef0123456789abcdef',
    'cloudflare.tunnelName=prod',
    'cloudflare.dns.zones={example.com,example.org}',
    'cloudflare.dns.policy=upsert-only',
    'metrics.adminTokenSecret=admin',
  ],
  minimal: [
    ...BASE,
    'rbac.create=false',
    'serviceAccount.create=false',
    'serviceAccount.name=existing',
    'podDisruptionBudget.enabled=false',
    'metrics.service.enabled=false',
    'ingressClass.create=false',
  ],
};

describe('Helm chart', () => {
  it('lints', async () => {
    const { stdout } = await run(HELM, ['lint', CHART, ...BASE.flatMap((s) => ['--set', s])]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it.each(Object.entries(VALUE_SETS))('renders valid objects with the %s values', async (_name, sets) => {
    const objs = await render(sets);
    expect(objs.length).toBeGreaterThan(0);
    for (const o of objs) await validate(o);
    const dep = objs.find((o) => o.kind === 'Deployment') as Obj;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.args).toContain('--metrics=0.0.0.0:20241');
    if (_name === 'cloudflare') {
      expect(c.args).toEqual(
        expect.arrayContaining(['--tunnel-name=prod', '--zone=example.org', '--dns-policy=upsert-only']),
      );
      expect(c.env).toContainEqual({
        name: 'TUNNEL_ADMIN_TOKEN',
        valueFrom: { secretKeyRef: { name: 'admin', key: 'admin-token' } },
      });
      expect(c.env).toContainEqual({
        name: 'CLOUDFLARE_API_TOKEN',
        valueFrom: { secretKeyRef: { name: 'cf-api', key: 'api-token' } },
      });
      const role = objs.find((o) => o.kind === 'Role') as Obj;
      expect(role.rules).toContainEqual({
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['tunnel-ingress-credentials'],
        verbs: ['get', 'update'],
      });
    }
  });

  it('renders what each value set asks for', async () => {
    const defaults = await render(VALUE_SETS.defaults as string[]);
    expect(defaults.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'IngressClass',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    const dep = defaults.find((o) => o.kind === 'Deployment') as Obj;
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.template.spec.affinity.podAntiAffinity).toBeDefined();
    expect(dep.spec.template.spec.containers[0].args).toEqual(
      expect.arrayContaining([
        '--edge=region1.example:7844',
        '--edge=region2.example:7844',
        '--credentials-file=/etc/tunnel/credentials/credentials.json',
      ]),
    );
    const everything = await render(VALUE_SETS.everything as string[]);
    expect(everything.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
    const ic = everything.find((o) => o.kind === 'IngressClass') as Obj;
    expect(ic.metadata.annotations['ingressclass.kubernetes.io/is-default-class']).toBe('true');
    const args = (everything.find((o) => o.kind === 'Deployment') as Obj).spec.template.spec.containers[0];
    expect(args.args).toEqual(
      expect.arrayContaining([
        '--watch-ingress-without-class',
        '--watch-namespace=apps',
        '--no-access-log',
        '--protocol=http2',
        '--cacert=/etc/tunnel/ca/ca.pem',
      ]),
    );
    expect(
      args.env.find((e: { name: string }) => e.name === 'TUNNEL_TOKEN').valueFrom.secretKeyRef.name,
    ).toBe('tok');
    const minimal = await render(VALUE_SETS.minimal as string[]);
    expect(minimal.map((o) => o.kind)).toEqual(['Deployment']);
  });

  it('renders namespaced RBAC with watchNamespace, and no PodDisruptionBudget at one replica', async () => {
    const scoped = await render([...BASE, 'watchNamespace=apps', 'replicaCount=1']);
    const clusterRole = scoped.find((o) => o.kind === 'ClusterRole') as Obj;
    // Only the cluster-scoped IngressClasses and GatewayClasses stay cluster-wide; no Secret of any
    // other namespace, no Namespace list (allowedRoutes selectors then match nothing).
    expect(clusterRole.rules).toEqual([
      { apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: ['list', 'watch'] },
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses'], verbs: ['list', 'watch'] },
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses/status'], verbs: ['patch'] },
    ]);
    const watchRole = scoped.find((o) => o.kind === 'Role' && o.metadata.namespace === 'apps') as Obj;
    expect(watchRole.rules).toEqual(
      expect.arrayContaining([
        { apiGroups: [''], resources: ['services', 'secrets'], verbs: ['list', 'watch'] },
        {
          apiGroups: ['gateway.networking.k8s.io'],
          resources: ['gateways', 'httproutes', 'grpcroutes', 'backendtlspolicies', 'referencegrants'],
          verbs: ['list', 'watch'],
        },
      ]),
    );
    const off = await render([...BASE, 'gatewayAPI.enabled=false']);
    expect(JSON.stringify(off)).not.toContain('gateway.networking.k8s.io');
    const binding = scoped.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'apps') as Obj;
    expect(binding.roleRef.name).toBe(watchRole.metadata.name);
    expect(binding.subjects[0]).toMatchObject({ kind: 'ServiceAccount', namespace: 'tunnels' });
    expect(scoped.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    for (const o of scoped) await validate(o);
  });

  it('prints NOTES whose commands work with the values given', async () => {
    const notes = async (sets: string[]) => {
      const { stdout } = await run(HELM, [
        'install',
        'ti',
        CHART,
        '--dry-run=client',
        '--namespace',
        'tunnels',
        ...sets.flatMap((s) => ['--set', s]),
      ]);
      return stdout.slice(stdout.indexOf('NOTES:'));
    };
    const plain = await notes(BASE);
    expect(plain).toContain('kubectl -n tunnels port-forward deploy/ti-tunnel-ingress 20241');
    expect(plain).toContain('curl localhost:20241/ready');
    // The defaults leave the dashboard off (the pod binds beyond loopback): say so and how to turn it on.
    expect(plain).toContain('are off');
    expect(plain).toContain('--set metrics.adminTokenSecret=ti-tunnel-ingress-admin');
    expect(plain).not.toContain('/debug/routes   #');
    const withToken = await notes([...BASE, 'metrics.adminTokenSecret=admin']);
    expect(withToken).toContain(
      "TOKEN=$(kubectl -n tunnels get secret admin -o jsonpath='{.data.admin-token}' | base64 -d)",
    );
    expect(withToken).toContain('curl -H "Authorization: Bearer $TOKEN" localhost:20241/debug/routes');
    expect(withToken).toContain('http://localhost:20241/dashboard?token=$TOKEN');
  });

  it('refuses values that cannot work, with a clear message', async () => {
    await expect(
      run(HELM, [
        'template',
        'ti',
        CHART,
        '--set',
        'tunnel.credentialsSecret=c',
        '--set',
        'tunnel.edges={e:1}',
      ]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'set image.repository: no registry publishes tunnel-ingress yet; build it (docker build -t REGISTRY/tunnel-ingress:TAG .)',
      ),
    });
    await expect(run(HELM, ['template', 'ti', CHART])).rejects.toMatchObject({
      stderr: expect.stringContaining(
        'set tunnel.credentialsSecret, tunnel.tokenSecret or cloudflare.tunnelName',
      ),
    });
    await expect(
      run(HELM, ['template', 'ti', CHART, '--set', 'tunnel.credentialsSecret=c']),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('set tunnel.edges') });
    await expect(
      run(HELM, [
        'template',
        'ti',
        CHART,
        ...BASE.flatMap((s) => ['--set', s]),
        '--set',
        'tunnel.protocol=bogus',
      ]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining("value must be one of 'auto', 'quic', 'http2'"),
    });
  });
});
