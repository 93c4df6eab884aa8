import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBECTL, startKubeSim, type KubeSimProc } from '../helpers/kube.js';

/** Real kubectl 1.33 against kube-sim, for every verb the project relies on. */
const manifest = (port: number, host = 'app.test') => `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: cloudflare-tunnel
spec:
  controller: tunnel-ingress.dev/agent
---
apiVersion: v1
kind: Service
metadata:
  name: app
spec:
  selector: {app: app}
  ports:
    - name: http
      port: ${port}
      targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
spec:
  ingressClassName: cloudflare-tunnel
  rules:
    - host: ${host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: app
                port:
                  name: http
`;

describe('kubectl against kube-sim', () => {
  let k: KubeSimProc;
  beforeAll(async () => {
    k = await startKubeSim();
  }, 30_000);
  afterAll(async () => k?.stop());

  it('applies client-side, again unchanged, then a change that replaces a list element', async () => {
    const first = await k.kubectl(['apply', '-f', '-'], manifest(80));
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('service/app created');
    expect(first.stdout).toContain('ingress.networking.k8s.io/app created');
    const again = await k.kubectl(['apply', '-f', '-'], manifest(80));
    expect(again.stdout).toContain('service/app unchanged');
    const changed = await k.kubectl(['apply', '-f', '-'], manifest(81));
    expect(changed.stdout).toContain('service/app configured');
    const ports = await k.kubectl(['get', 'svc', 'app', '-o', 'jsonpath={.spec.ports[*].port}']);
    expect(ports.stdout).toBe('81');
  });

  it('applies server-side, and reports a conflict with another manager', async () => {
    const ssa = await k.kubectl(['apply', '--server-side', '-f', '-'], manifest(81, 'ssa.test'));
    expect(ssa.stdout).toContain('ingress.networking.k8s.io/app serverside-applied');
    const conflict = await k.kubectl(
      ['apply', '--server-side', '--field-manager', 'intruder', '-f', '-'],
      manifest(81, 'other.test'),
    );
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict with "kubectl"/);
    const forced = await k.kubectl(
      ['apply', '--server-side', '--force-conflicts', '--field-manager', 'intruder', '-f', '-'],
      manifest(81, 'other.test'),
    );
    expect(forced.code).toBe(0);
    expect((await k.kubectl(['get', 'ingress', 'app', '-o', 'jsonpath={.spec.rules[0].host}'])).stdout).toBe(
      'other.test',
    );
  });

  it('gets as a table, as YAML and by jsonpath', async () => {
    const table = await k.kubectl(['get', 'ingress']);
    expect(table.stdout).toMatch(/^NAME\s+CLASS\s+HOSTS\s+ADDRESS\s+PORTS\s+AGE/);
    expect(table.stdout).toMatch(/app\s+cloudflare-tunnel\s+other\.test/);
    const yaml = await k.kubectl(['get', 'svc', 'app', '-o', 'yaml']);
    expect(yaml.stdout).toContain('kind: Service');
    expect(yaml.stdout).toContain('targetPort: 8080');
    const all = await k.kubectl(['get', 'ns']);
    expect(all.stdout).toMatch(/default\s+Active/);
  });

  it('patches with every patch type', async () => {
    expect(
      (await k.kubectl(['patch', 'svc', 'app', '-p', '{"metadata":{"labels":{"s":"1"}}}'])).stdout,
    ).toContain('patched');
    expect(
      (await k.kubectl(['patch', 'svc', 'app', '--type=merge', '-p', '{"metadata":{"labels":{"m":"2"}}}']))
        .stdout,
    ).toContain('patched');
    expect(
      (
        await k.kubectl([
          'patch',
          'svc',
          'app',
          '--type=json',
          '-p',
          '[{"op":"add","path":"/metadata/labels/j","value":"3"}]',
        ])
      ).stdout,
    ).toContain('patched');
    const labels = await k.kubectl(['get', 'svc', 'app', '-o', 'jsonpath={.metadata.labels}']);
    expect(JSON.parse(labels.stdout)).toEqual({ s: '1', m: '2', j: '3' });
  });

  it('watches with get -w', async () => {
    const child = spawn(KUBECTL, ['get', 'ingress', '-w'], {
      env: { ...process.env, KUBECONFIG: k.kubeconfig },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 800));
    await k.kubectl([
      'patch',
      'ingress',
      'app',
      '--type=merge',
      '-p',
      '{"spec":{"rules":[{"host":"watched.test","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"app","port":{"name":"http"}}}}]}}]}}',
    ]);
    const deadline = Date.now() + 5000;
    while (!out.includes('watched.test') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill();
    expect(out).toContain('other.test');
    expect(out).toContain('watched.test');
  });

  it('waits for a condition and deletes, honouring finalizers', async () => {
    const wait = await k.kubectl([
      'wait',
      '--for=jsonpath={.spec.ingressClassName}=cloudflare-tunnel',
      'ingress/app',
      '--timeout=10s',
    ]);
    expect(wait.stdout).toContain('condition met');
    await k.kubectl([
      'patch',
      'ingress',
      'app',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":["example.com/hold"]}}',
    ]);
    const del = await k.kubectl(['delete', 'ingress', 'app', '--wait=false']);
    expect(del.stdout).toContain('deleted');
    expect(
      (await k.kubectl(['get', 'ingress', 'app', '-o', 'jsonpath={.metadata.deletionTimestamp}'])).stdout,
    ).not.toBe('');
    const waiting = k.kubectl(['wait', '--for=delete', 'ingress/app', '--timeout=10s']);
    await k.kubectl([
      'patch',
      'ingress',
      'app',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ]);
    expect((await waiting).code).toBe(0);
    const gone = await k.kubectl(['get', 'ingress', 'app']);
    expect(gone.stderr).toContain('NotFound');
  });

  it('reports invalid objects and unknown fields the way the API server does', async () => {
    const bad = await k.kubectl(
      ['apply', '-f', '-'],
      manifest(80).replace('pathType: Prefix', 'pathType: Sideways'),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Unsupported value: "Sideways"/);
    const unknown = await k.kubectl(
      ['apply', '-f', '-'],
      manifest(80).replace('selector: {app: app}', 'selector: {app: app}\n  bogusField: 1'),
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown field "spec.bogusField"/);
  });

  it("enforces RBAC for a ServiceAccount: forbidden with the API server's words until a RoleBinding grants it", async () => {
    const as = ['--kubeconfig', k.unboundKubeconfig];
    const denied = await k.kubectl([...as, 'get', 'configmaps']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      'Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:default:unbound" cannot list resource "configmaps" in API group "" in the namespace "default"',
    );
    const granted = await k.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: cm-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
  - {kind: ServiceAccount, name: unbound, namespace: default}
`,
    );
    expect(granted.stderr).toBe('');
    const allowed = await k.kubectl([...as, 'get', 'configmaps']);
    expect(allowed.code).toBe(0);
    // A RoleBinding reaches its own namespace only, and the Role names no write.
    const elsewhere = await k.kubectl([...as, 'get', 'configmaps', '-n', 'kube-system']);
    expect(elsewhere.stderr).toContain('in the namespace "kube-system"');
    const write = await k.kubectl(
      [...as, 'apply', '-f', '-'],
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\ndata: {a: b}\n',
    );
    expect(write.stderr).toContain('(Forbidden)');
    const roles = await k.kubectl(['get', 'rolebindings']);
    expect(roles.stdout).toMatch(/cm-reader\s+Role\/cm-reader/);
  });

  it('creates with kubectl create (protobuf bodies): configmap, secret, namespace, service, ingress', async () => {
    const ok = async (args: string[]) => {
      const r = await k.kubectl(args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return r.stdout;
    };
    expect(await ok(['create', 'configmap', 'pb-cm', '--from-literal=greeting=hello'])).toContain('created');
    expect(
      await ok(['create', 'secret', 'generic', 'pb-secret', '--from-literal=password=s3cr3t']),
    ).toContain('created');
    expect(await ok(['create', 'namespace', 'pb-ns'])).toContain('created');
    expect(await ok(['create', 'service', 'clusterip', 'pb-svc', '--tcp=80:8080'])).toContain('created');
    expect(
      await ok([
        'create',
        'ingress',
        'pb-ing',
        '--class=cloudflare-tunnel',
        '--rule=pb.test/api*=pb-svc:80',
        '--rule=tls.pb.test/=pb-svc:http,tls=pb-cert',
      ]),
    ).toContain('created');
    expect(await ok(['get', 'configmap', 'pb-cm', '-o', 'jsonpath={.data.greeting}'])).toBe('hello');
    expect(await ok(['get', 'secret', 'pb-secret', '-o', 'jsonpath={.data.password}'])).toBe(
      Buffer.from('s3cr3t').toString('base64'),
    );
    expect(await ok(['get', 'namespace', 'pb-ns', '-o', 'jsonpath={.status.phase}'])).toBe('Active');
    expect(JSON.parse(await ok(['get', 'service', 'pb-svc', '-o', 'jsonpath={.spec.ports}']))).toEqual([
      { name: '80-8080', port: 80, protocol: 'TCP', targetPort: 8080 },
    ]);
    const ing = JSON.parse(await ok(['get', 'ingress', 'pb-ing', '-o', 'json'])) as { spec: unknown };
    expect(ing.spec).toEqual({
      ingressClassName: 'cloudflare-tunnel',
      rules: [
        {
          host: 'pb.test',
          http: {
            paths: [
              {
                path: '/api',
                pathType: 'Prefix',
                backend: { service: { name: 'pb-svc', port: { number: 80 } } },
              },
            ],
          },
        },
        {
          host: 'tls.pb.test',
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Exact',
                backend: { service: { name: 'pb-svc', port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
      tls: [{ hosts: ['tls.pb.test'], secretName: 'pb-cert' }],
    });
  });

  it('writes nothing on a server-side dry run, for any verb', async () => {
    await k.apply('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {v: "1"}\n');
    const rv = async () =>
      (await k.kubectl(['get', 'configmap', 'dry', '-o', 'jsonpath={.metadata.resourceVersion}'])).stdout;
    const before = await rv();
    const runs = [
      ['delete', 'configmap', 'dry', '--dry-run=server'],
      ['label', 'configmap', 'dry', 'x=y', '--dry-run=server'],
      ['create', 'configmap', 'dry-new', '--from-literal=a=b', '--dry-run=server'],
      ['patch', 'configmap', 'dry', '-p', '{"data":{"v":"2"}}', '--dry-run=server'],
      ['delete', 'configmaps', '--all', '--dry-run=server'],
    ];
    for (const args of runs) {
      const r = await k.kubectl(args);
      expect(r.code, args.join(' ')).toBe(0);
      // kubectl patch says only "patched"; the others name the dry run
      if (args[0] !== 'patch') expect(r.stdout, args.join(' ')).toContain('(server dry run)');
    }
    expect(await rv()).toBe(before);
    expect((await k.kubectl(['get', 'configmap', 'dry', '-o', 'jsonpath={.data.v}'])).stdout).toBe('1');
    expect((await k.kubectl(['get', 'configmap', 'dry-new'])).code).not.toBe(0);
  });

  it('refuses EndpointSlice addresses the API server refuses (link-local, unspecified; loopback without the demo flag)', async () => {
    const slice = (name: string, ip: string) =>
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}}\naddressType: IPv4\nendpoints: [{addresses: ["${ip}"]}]\nports: [{port: 80}]\n`;
    for (const [ip, says] of [
      ['169.254.1.1', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
      ['0.0.0.0', 'may not be unspecified'],
      ['10.0.0.256', 'must be a valid IPv4 address'],
    ] as const) {
      const r = await k.kubectl(['apply', '-f', '-'], slice('bad-slice', ip));
      expect(r.code, ip).not.toBe(0);
      expect(r.stderr).toContain(`endpoints[0].addresses[0]: Invalid value: "${ip}": ${says}`);
    }
    // This suite's kube-sim takes loopback (its pods are local processes); a default one refuses it.
    const strict = await startKubeSim([], {}, { allowLoopbackEndpoints: false });
    try {
      const r = await strict.kubectl(['apply', '-f', '-'], slice('loop', '127.0.0.1'));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        'endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      );
      expect((await strict.kubectl(['apply', '-f', '-'], slice('ok', '10.1.2.3'))).code).toBe(0);
    } finally {
      await strict.stop();
    }
  });
});
