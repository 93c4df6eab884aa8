import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './processes.js';

/**
 * The check that no token, tunnel secret or credential reaches a log line anywhere in the suite: every
 * process the tests spawn writes its output to test-results/logs, tests register the secrets they
 * create or hand out, and the global teardown searches every line for every secret.
 */
export const LOG_DIR = path.join(ROOT, 'test-results', 'logs');
const SECRETS_FILE = path.join(ROOT, 'test-results', 'secrets.txt');

export function resetScan(): void {
  rmSync(LOG_DIR, { recursive: true, force: true });
  rmSync(SECRETS_FILE, { force: true });
  mkdirSync(LOG_DIR, { recursive: true });
}

/** Remembers a secret for the final scan (shorter strings would match by chance). */
export function registerSecret(secret: string): void {
  if (secret.length < 12) return;
  mkdirSync(path.dirname(SECRETS_FILE), { recursive: true });
  appendFileSync(SECRETS_FILE, Buffer.from(secret).toString('base64') + '\n');
}

export function logFileFor(name: string, pid: number | undefined): string {
  return path.join(LOG_DIR, `${name}-${pid ?? 'x'}.log`);
}

/** Every (file, secret) pair where a registered secret shows up in a log. */
export function scanLogs(): { files: number; secrets: number; leaks: string[] } {
  let secrets: string[] = [];
  try {
    secrets = [
      ...new Set(
        readFileSync(SECRETS_FILE, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => Buffer.from(l, 'base64').toString()),
      ),
    ];
  } catch {
    // nothing registered
  }
  let files: string[] = [];
  try {
    files = readdirSync(LOG_DIR);
  } catch {
    // no process was spawned
  }
  const leaks: string[] = [];
  for (const f of files) {
    const text = readFileSync(path.join(LOG_DIR, f), 'utf8');
    for (const s of secrets) if (text.includes(s)) leaks.push(`${f}: ${s.slice(0, 4)}…`);
  }
  return { files: files.length, secrets: secrets.length, leaks };
}
