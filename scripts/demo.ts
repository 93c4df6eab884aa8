import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

/**
 * `npm run demo`: edge-sim, a sample origin and the agent on this machine, wired together and checked
 * with one request through the edge before anything is printed. `--smoke` stops after the check (the
 * test suite runs it that way).
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STATE = path.join(ROOT, '.demo');
const LOGS = path.join(STATE, 'logs');
const smoke = process.argv.includes('--smoke');
const children: ChildProcess[] = [];

/** The preferred port if it is free, else one the system picks. */
function pickPort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => {
      const any = net.createServer();
      any.listen(0, '127.0.0.1', () => {
        const p = (any.address() as net.AddressInfo).port;
        any.close(() => resolve(p));
      });
    });
    probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve(preferred)));
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
  const [tunnelPort, publicPort, apiPort, metricsPort, originPort] = [
    await pickPort(7844),
    await pickPort(8080),
    await pickPort(8081),
    await pickPort(20241),
    await pickPort(9090),
  ];
  const edgeState = path.join(STATE, 'edge-sim');
  start('origin', 'examples/origin/echo-origin.ts', ['hello-origin', String(originPort)]);
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
    '--route',
    'app.localhost=demo',
  ]);
  const edgeApi = `http://127.0.0.1:${apiPort}`;
  await waitFor('edge-sim', async () => (await request(`${edgeApi}/_edge/tunnels`)).statusCode === 200);
  start('agent', 'agent/main.ts', [
    '--credentials-file',
    path.join(edgeState, 'tunnels', 'demo.json'),
    '--edge',
    `127.0.0.1:${tunnelPort}`,
    '--cacert',
    path.join(edgeState, 'ca.pem'),
    '--url',
    `http://127.0.0.1:${originPort}`,
    '--metrics',
    `127.0.0.1:${metricsPort}`,
    '--log-pretty',
  ]);
  const ready = `http://127.0.0.1:${metricsPort}/ready`;
  await waitFor('the agent', async () => (await request(ready)).statusCode === 200);
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const check = await request(`${publicUrl}/echo`, { headers: { host: 'app.localhost' } });
  const body = (await check.body.json()) as { headers: Record<string, string> };
  if (check.statusCode !== 200 || body.headers['cf-ray'] === undefined) {
    throw new Error(`a request through the edge answered ${check.statusCode}`);
  }
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  process.stdout.write(`
tunnel-ingress demo: a request went visitor → edge-sim → tunnel → agent → origin and came back.

  edge-sim   visitors  ${publicUrl}   (app.localhost routes to tunnel "demo")
             admin     ${edgeApi}/_edge/tunnels
  agent      ready     ${ready}
  origin     direct    http://127.0.0.1:${originPort}

Try:
  curl -H 'Host: app.localhost' ${publicUrl}/
  curl -H 'Host: app.localhost' ${publicUrl}/echo          # the headers the origin saw (Cf-Ray, Cf-Connecting-Ip…)
  curl -H 'Host: app.localhost' -T package.json ${publicUrl}/echo   # an upload, checksummed by the origin
  curl -s ${edgeApi}/_edge/tunnels                         # the 4 registered tunnel connections
  curl -s ${ready}
  curl -H 'Host: nowhere.localhost' ${publicUrl}/          # no route: 404 from the edge

Logs: ${rel(LOGS)}/{edge-sim,agent,origin}.log
Press Ctrl-C to stop everything.
`);
  if (smoke) await stop(0);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((err: unknown) => {
  process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
  void stop(1);
});
