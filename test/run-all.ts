import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { readTargets } from './helpers/kube-targets.js';
import { ROOT } from './helpers/processes.js';

/**
 * `npm test`: the vitest suite, then the secret scan and the RBAC check over what the suite left,
 * each run whatever the one before it did (a failing test must not hide a leaked secret), and a
 * report of all three. The last line counts tests and checks: `tests: N passed, M failed`.
 * Arguments go to vitest (`npm test -- test/e2e/websocket.test.ts`); the two checks judge the whole
 * suite (every permission used, every log scanned), so a part of it runs without them.
 */
const RESULTS = path.join(ROOT, 'test-results', 'vitest.json');
const tsx = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

function run(what: string, args: string[]): number {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error !== undefined) process.stderr.write(`${what}: ${r.error.message}\n`);
  return r.status ?? 1;
}

rmSync(RESULTS, { force: true });
const suite = run('vitest', [
  vitest,
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${RESULTS}`,
  ...process.argv.slice(2),
]);
let passed = 0;
let failed = 0;
let skipped = 0;
/** tests (and files) by the Kubernetes API server their file used */
const against = { 'kube-apiserver': { tests: 0, files: 0 }, 'kube-sim': { tests: 0, files: 0 } };
if (existsSync(RESULTS)) {
  const r = JSON.parse(readFileSync(RESULTS, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    testResults: Array<{ name: string; assertionResults: Array<{ status: string }> }>;
  };
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  const targets = readTargets();
  for (const file of r.testResults) {
    const ran = file.assertionResults.filter((a) => a.status === 'passed' || a.status === 'failed').length;
    for (const kind of targets.get(file.name) ?? []) {
      against[kind].tests += ran;
      against[kind].files += 1;
    }
  }
}
// A suite that failed without a failed test (a file that did not load, an error outside any test).
if (suite !== 0 && failed === 0) failed = 1;
const whole = process.argv.length <= 2;
const scan = whole ? run('secret scan', [tsx, path.join(ROOT, 'test', 'scan-secrets.ts')]) : null;
const rbac = whole ? run('RBAC check', [tsx, path.join(ROOT, 'test', 'check-rbac.ts')]) : null;

const verdict = (code: number | null) =>
  code === null ? 'not run (a part of the suite)' : code === 0 ? 'passed' : `FAILED (exit ${code})`;
process.stdout.write(
  `\nnpm test:\n  vitest        ${verdict(suite)}: ${passed} passed, ${failed} failed, ${skipped} skipped\n` +
    `  Kubernetes    ${against['kube-apiserver'].tests} tests in ${against['kube-apiserver'].files} files against the real kube-apiserver, ` +
    `${against['kube-sim'].tests} in ${against['kube-sim'].files} against kube-sim\n` +
    `  secret scan   ${verdict(scan)}\n  RBAC check    ${verdict(rbac)}\n`,
);
const checks = [scan, rbac].filter((c): c is number => c !== null);
const checksFailed = checks.filter((c) => c !== 0).length;
process.stdout.write(
  `tests: ${passed + checks.length - checksFailed} passed, ${failed + checksFailed} failed\n`,
);
process.exit(suite !== 0 || checksFailed > 0 ? 1 : 0);
