import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { resetAudit } from './helpers/chart-rbac.js';
import { resetTargets } from './helpers/kube-targets.js';
import { resetScan } from './helpers/secret-scan.js';
import { startSuiteKube } from './kube/suite-target.js';

/**
 * Fetches kubectl and helm once per test run (scripts/fetch-tools.sh is a no-op when they are there),
 * empties the logs that test/scan-secrets.ts searches for secrets and the audit logs that
 * test/check-rbac.ts compares with the chart's RBAC after the run, and starts the one real Kubernetes
 * control plane the suite shares (building it the first time), or says why kube-sim stands in.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync('bash', [path.join(root, 'scripts/fetch-tools.sh')], { stdio: 'inherit', cwd: root });
  resetScan();
  resetAudit();
  resetTargets();
  const started = await startSuiteKube((line) => process.stderr.write(`${line}\n`));
  project.provide('kube', started.kube);
  // Test pods listen on this address; workers start after this and inherit it.
  process.env.TI_POD_IP = started.kube.podIp;
  return () => started.stop();
}
