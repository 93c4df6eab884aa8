import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resetAudit } from './helpers/chart-rbac.js';
import { resetScan } from './helpers/secret-scan.js';

/**
 * Fetches kubectl and helm once per test run (scripts/fetch-tools.sh is a no-op when they are there),
 * and empties the logs that test/scan-secrets.ts searches for secrets and the kube-sim audit logs that
 * test/check-rbac.ts compares with the chart's RBAC after the run.
 */
export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync('bash', [path.join(root, 'scripts/fetch-tools.sh')], { stdio: 'inherit', cwd: root });
  resetScan();
  resetAudit();
}
