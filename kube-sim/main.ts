import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import pino from 'pino';
import { stringify } from 'yaml';
import { parseHostPort } from '../common/net.js';
import { createPki, loadOrCreatePki } from '../common/pki.js';
import { RESOURCES } from './resources.js';
import { KubeSimServer } from './server.js';
import { Store } from './store.js';
import { parseCli } from '../common/cli.js';
import { adminUsers, parseTokenFile } from './tokens.js';

const USAGE = `kube-sim: the subset of the Kubernetes API that tunnel-ingress and kubectl use

  --listen HOST:PORT        where to serve HTTPS (default 127.0.0.1:6443)
  --tls-dir DIR             keep the CA and server certificate here (default: new ones at every start)
  --kubeconfig-out FILE     write a kubeconfig for this server (bearer token) to FILE
  --token TOKEN             an administrator's bearer token (system:masters; repeatable; one is
                            generated when neither this nor --token-auth-file is given)
  --token-auth-file FILE    more tokens, in kube-apiserver's static token format:
                            token,user,uid,"group1,group2" (system:serviceaccount:NS:NAME for a
                            ServiceAccount)
  --authorization-mode MODE AlwaysAllow (default) or RBAC: enforce Roles, ClusterRoles and their bindings
  --audit-log-path FILE     append one JSON audit event per resource request to FILE
  --state FILE              keep objects in FILE across restarts
  --history N               watch history length in events (default 20000)
  --bookmark-interval MS    BOOKMARK period for watches that ask (default 15000)
  --allow-loopback-endpoints  accept 127.0.0.0/8 and ::1 in EndpointSlices, which the API server refuses
                            (for demos and tests whose pods are local processes)
  --version                 print the version
  -h, --help                this text
`;

export function kubeconfig(server: string, token: string, caPem: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kube-sim',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: 'kube-sim-admin', user: { token } }],
    contexts: [{ name: 'kube-sim', context: { cluster: 'kube-sim', user: 'kube-sim-admin', namespace } }],
    'current-context': 'kube-sim',
    preferences: {},
  });
}

async function main(): Promise<void> {
  const values = parseCli('kube-sim', USAGE, {
    listen: { type: 'string', default: '127.0.0.1:6443' },
    'kubeconfig-out': { type: 'string' },
    token: { type: 'string', multiple: true, default: [] },
    'token-auth-file': { type: 'string' },
    'authorization-mode': { type: 'string', default: 'AlwaysAllow' },
    'audit-log-path': { type: 'string' },
    state: { type: 'string' },
    'tls-dir': { type: 'string' },
    history: { type: 'string', default: '20000' },
    'bookmark-interval': { type: 'string', default: '15000' },
    'allow-loopback-endpoints': { type: 'boolean' },
  });
  if (values === null) return;
  const log = pino({ name: 'kube-sim' });
  const fileUsers =
    values['token-auth-file'] === undefined
      ? new Map()
      : parseTokenFile(await readFile(values['token-auth-file'], 'utf8'), values['token-auth-file']);
  const tokens =
    values.token.length > 0 || fileUsers.size > 0 ? values.token : [randomBytes(24).toString('base64url')];
  const users = new Map([...fileUsers, ...adminUsers(tokens)]);
  const mode = values['authorization-mode'];
  if (mode !== 'AlwaysAllow' && mode !== 'RBAC')
    throw new Error(`--authorization-mode is AlwaysAllow or RBAC, not "${mode}"`);
  const store = new Store(Number(values.history), values.state);
  const restored = await store.load(RESOURCES);
  const listenAt = parseHostPort(values.listen, '--listen', true);
  const names = {
    dnsNames: ['localhost', 'kube-sim'],
    ipAddresses: ['127.0.0.1', '::1'],
    caName: 'kube-sim CA',
  };
  const pki =
    values['tls-dir'] === undefined
      ? await createPki(names)
      : await loadOrCreatePki(values['tls-dir'], names);
  const server = new KubeSimServer({
    listen: listenAt,
    pki,
    users,
    authorization: mode,
    ...(values['audit-log-path'] === undefined ? {} : { auditLog: values['audit-log-path'] }),
    store,
    bookmarkIntervalMs: Number(values['bookmark-interval']),
    allowLoopbackEndpoints: values['allow-loopback-endpoints'] === true,
  });
  const nsKind = RESOURCES.find((r) => r.kind === 'Namespace') as (typeof RESOURCES)[number];
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (store.get(nsKind, undefined, name) === undefined) {
      store.put(
        nsKind,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name }, status: { phase: 'Active' } },
        'ADDED',
      );
    }
  }
  const at = await server.listen();
  const url = `https://${at.host}:${at.port}`;
  if (values['kubeconfig-out'] !== undefined && tokens.length > 0) {
    await writeFile(values['kubeconfig-out'], kubeconfig(url, tokens[0] as string, pki.caPem), {
      mode: 0o600,
    });
  }
  log.info(
    {
      url,
      kubeconfig: values['kubeconfig-out'],
      authorization: mode,
      users: users.size,
      restored,
      resourceVersion: store.resourceVersion,
    },
    'kube-sim listening',
  );
  const stop = () => {
    void store.save().finally(() => void server.close().finally(() => process.exit(0)));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`kube-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
