import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, spawnBinary, tempDir } from '../helpers/processes.js';

/**
 * The commands npm installs (`npx tunnel-ingress`, `edge-sim`, `kube-sim`) work as soon as `npm install`
 * is done, without a build: CI runs this in a clean clone where dist/ does not exist. Each answers
 * --version and --help, and a bad flag gets one line pointing to --help and exit 2.
 */
const VERSION = (await import(path.join(ROOT, 'package.json'), { with: { type: 'json' } })).default
  .version as string;

function npx(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['--no-install', bin, ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

describe.each(['tunnel-ingress', 'edge-sim', 'kube-sim'])('npx %s', (bin) => {
  it('answers --version and --help', async () => {
    const v = await npx(bin, ['--version']);
    expect(v).toMatchObject({ code: 0, stdout: `${bin} ${VERSION}\n` });
    const h = await npx(bin, ['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain(`${bin}:`);
    expect(h.stdout).toContain('--version');
  });

  it('points a bad flag to --help, exit 2, without a stack trace', async () => {
    const r = await npx(bin, ['--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `${bin}: Unknown option '--no-such-flag'\nRun '${bin} --help' for the flags it takes.\n`,
    );
  });
});

describe('the installed edge-sim', () => {
  const dirs: Array<{ remove(): Promise<void> }> = [];
  afterAll(async () => Promise.all(dirs.map((d) => d.remove())));

  it('starts and serves', async () => {
    const tmp = await tempDir('bin');
    dirs.push(tmp);
    // What npx runs for `edge-sim` (npx itself would outlive a kill of its child).
    const proc = spawnBinary('edge-sim-bin', process.execPath, [
      path.join(ROOT, 'bin/edge-sim.js'),
      '--state-dir',
      tmp.dir,
      '--tunnel-listen',
      '127.0.0.1:0',
      '--public-listen',
      '127.0.0.1:0',
    ]);
    try {
      const ready = await proc.waitForMsg('edge-sim listening', 20_000);
      expect(String(ready.public)).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await proc.stop();
    }
  });
});
