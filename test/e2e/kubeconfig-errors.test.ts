import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKube, type KubeProc } from '../helpers/kube.js';
import { spawnTs, tempDir } from '../helpers/processes.js';
import { startEdgeSim, type EdgeSimProc } from '../helpers/stack.js';

/**
 * A first-time operator's kubeconfig mistakes: each gets one line on stderr naming the file or the
 * credential problem, and exit 2, not a library message or a stack trace.
 */
describe('kubeconfig problems at start-up', () => {
  let edge: EdgeSimProc;
  let k: KubeProc;
  let tmp: { dir: string; remove(): Promise<void> };

  beforeAll(async () => {
    tmp = await tempDir('kubeconfig');
    edge = await startEdgeSim({ tunnels: ['t'], routes: [] });
    k = await startKube();
  }, 60_000);

  afterAll(async () => {
    await edge?.stop();
    await k?.stop();
    await tmp?.remove();
  });

  async function run(kubeconfig: string): Promise<{ code: number | null; stderr: string[] }> {
    const proc = spawnTs('agent-kubeconfig', 'agent/main.ts', [
      '--credentials-file',
      edge.credentialsFile('t'),
      '--edge',
      edge.tunnelAddr,
      '--cacert',
      edge.caFile,
      '--kubeconfig',
      kubeconfig,
    ]);
    const code = await proc.exited;
    return { code, stderr: proc.raw.filter((l) => l.startsWith('tunnel-ingress:')) };
  }

  const file = async (name: string, text: string) => {
    const p = path.join(tmp.dir, name);
    await writeFile(p, text);
    return p;
  };

  it.each([
    [
      'a missing file',
      async () => path.join(tmp.dir, 'nowhere.yaml'),
      /the kubeconfig .*nowhere\.yaml does not exist$/,
    ],
    [
      'a file that is not YAML',
      () => file('broken.yaml', 'clusters: [\n'),
      /the kubeconfig .*broken\.yaml is not valid YAML: /,
    ],
    [
      'YAML that is not a kubeconfig',
      () => file('list.yaml', '- one\n- two\n'),
      /the kubeconfig .*list\.yaml is not a YAML mapping$/,
    ],
    [
      'a kubeconfig without a current context',
      () => file('empty.yaml', 'apiVersion: v1\nkind: Config\nclusters: []\n'),
      /the kubeconfig .*empty\.yaml has no current context/,
    ],
  ])('%s: one clear line, exit 2', async (_name, make, says) => {
    const { code, stderr } = await run(await make());
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(says);
  });

  it('credentials the API server refuses (401): one clear line naming the user, exit 2', async () => {
    const good = await readFile(k.agentKubeconfig, 'utf8');
    const wrong = await file('wrong-token.yaml', good.replace(/token: .*/, 'token: not-the-right-token'));
    const { code, stderr } = await run(wrong);
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(
      /refused the credentials from .*wrong-token\.yaml \(401 Unauthorized\): the token or client certificate of user ".+" is wrong or expired/,
    );
    expect(stderr[0]).not.toContain('not-the-right-token');
  });
});
