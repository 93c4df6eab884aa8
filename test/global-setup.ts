import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Fetches kubectl and helm once per test run (scripts/fetch-tools.sh is a no-op when they are there). */
export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync('bash', [path.join(root, 'scripts/fetch-tools.sh')], { stdio: 'inherit', cwd: root });
}
