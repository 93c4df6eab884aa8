import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../helpers/processes.js';

describe('npm run demo', () => {
  it('starts kube-sim, edge-sim, origins and the agent, applies the examples, gets a request through, and prints what to try', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--smoke'], {
      cwd: ROOT,
      timeout: 60_000,
    });
    expect(stdout).toContain(
      'a request went visitor → edge-sim → tunnel → agent → Ingress route → origin and came back',
    );
    expect(stdout).toMatch(/curl -H 'Host: shop\.localhost' http:\/\/127\.0\.0\.1:\d+\//);
    expect(stdout).toContain('kubectl get ingress');
  }, 70_000);
});
