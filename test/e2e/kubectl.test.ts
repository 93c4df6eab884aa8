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
});
