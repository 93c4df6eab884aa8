import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs a program to its end: stdout and stderr, or a rejection with them on a non-zero exit. */
export const run = promisify(execFile);

export interface LogLine {
  msg?: string;
  level?: number;
  [k: string]: unknown;
}

/**
 * Real processes for end-to-end tests: each program runs as its own Node process (through tsx), its
 * JSON log lines are collected, and a test waits for a line rather than sleeping.
 */
export class Proc {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buf = '';
    // Every line also goes to test-results/logs, which the global teardown scans for secrets.
    const logDir = path.join(ROOT, 'test-results', 'logs');
    let file: WriteStream | null = null;
    try {
      mkdirSync(logDir, { recursive: true });
      file = createWriteStream(path.join(logDir, `${name}-${child.pid ?? 'x'}.log`));
      file.on('error', () => {});
    } catch {
      file = null;
    }
    child.once('exit', () => file?.end());
    const onData = (chunk: Buffer) => {
      file?.write(chunk);
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.raw.push(line);
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { msg: line };
        }
        this.lines.push(parsed);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(parsed)) return true;
          w.resolve(parsed);
          return false;
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const found = this.lines.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${this.name}: no matching log line within ${timeoutMs} ms; last lines:\n${this.raw.slice(-15).join('\n')}`,
          ),
        );
      }, timeoutMs);
      const w = {
        pred,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(w);
      void this.exited.then((code) => {
        if (this.waiters.includes(w)) {
          clearTimeout(timer);
          reject(
            new Error(
              `${this.name} exited (${code}) before the awaited line; last lines:\n${this.raw.slice(-15).join('\n')}`,
            ),
          );
        }
      });
    });
  }

  waitForMsg(msg: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor((l) => l.msg === msg, timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // A CPU profile is written only on a clean exit: while profiling, SIGTERM first (5 s at most).
    if (PROFILING) {
      this.child.kill('SIGTERM');
      const done = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
      if (done) return;
    }
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * Runs a TypeScript entry point of this repository as a separate Node process: through tsx, or with
 * TI_USE_DIST=1 the compiled file under dist/ (what a deployment runs; the benchmarks use it). TI_NODE_ARGS
 * adds Node flags (for example `--cpu-prof --cpu-prof-dir=prof`, which NODE_OPTIONS does not allow).
 */
const PROFILING = (process.env.TI_NODE_ARGS ?? '').includes('--cpu-prof');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function spawnTs(name: string, entry: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const nodeArgs = (process.env.TI_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const compiled = path.join(ROOT, 'dist', entry.replace(/\.ts$/, '.js'));
  // Files that are never built (the benchmarks' own helpers) run from source either way.
  const program =
    process.env.TI_USE_DIST === '1' && existsSync(compiled)
      ? [compiled]
      : ['--import', 'tsx', path.join(ROOT, entry)];
  const child = spawn(process.execPath, [...nodeArgs, ...program, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(name, child);
}

export function spawnBinary(name: string, file: string, args: string[]): Proc {
  return new Proc(name, spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `ti-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function waitUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
