import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { parse } from 'yaml';
import { registerSecret } from './secret-scan.js';
import { ROOT, spawnTs, tempDir, type Proc } from './processes.js';

/** kube-sim as a process, kubectl against it, and raw API calls with its CA and token. */
export const KUBECTL = path.join(ROOT, '.tools/bin/kubectl');

export interface KubeSimProc {
  proc: Proc;
  url: string;
  kubeconfig: string;
  token: string;
  dispatcher: Agent;
  api(
    method: Dispatcher.HttpMethod,
    p: string,
    body?: unknown,
    contentType?: string,
  ): Promise<{ status: number; body: any }>;
  sim(p: string, body?: unknown, method?: Dispatcher.HttpMethod): Promise<any>;
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function startKubeSim(extra: string[] = []): Promise<KubeSimProc> {
  const tmp = await tempDir('kube');
  const kubeconfig = path.join(tmp.dir, 'kubeconfig');
  const proc = spawnTs('kube-sim', 'kube-sim/main.ts', [
    '--listen',
    '127.0.0.1:0',
    '--kubeconfig-out',
    kubeconfig,
    ...extra,
  ]);
  const ready = await proc.waitForMsg('kube-sim listening', 20_000);
  const url = ready.url as string;
  const cfg = parse(await readFile(kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { 'certificate-authority-data': string } }>;
    users: Array<{ user: { token: string } }>;
  };
  const ca = Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString();
  const token = cfg.users[0]!.user.token;
  registerSecret(token);
  for (let i = 0; i < extra.length - 1; i++)
    if (extra[i] === '--token') registerSecret(extra[i + 1] as string);
  const dispatcher = new Agent({ connect: { ca } });
  const api: KubeSimProc['api'] = async (method, p, body, contentType = 'application/json') => {
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
  return {
    proc,
    url,
    kubeconfig,
    token,
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
    kubectl(args, input) {
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
    },
    async stop() {
      await proc.stop();
      await dispatcher.close();
      await tmp.remove();
    },
  };
}

export interface EventView {
  reason: string;
  message: string;
  involvedObject: { name: string };
}

/** The Events in the default namespace, as kubectl shows them. */
export async function events(k: KubeSimProc): Promise<EventView[]> {
  const res = await k.kubectl(['get', 'events', '-o', 'json']);
  return (JSON.parse(res.stdout) as { items: EventView[] }).items;
}
