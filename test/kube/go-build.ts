import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/processes.js';

/**
 * Builds Go programs of the test bed from the Go module proxy with the ordinary Go tools, once: the
 * binaries land in .tools/<name>/<key>/, where the key is the pinned version plus a hash of the module's
 * go.sum, so that a changed pin builds anew and an unchanged one is reused. Go's own module and build
 * caches (~/go/pkg/mod, ~/.cache/go-build) make a rebuild on a warm machine a matter of linking.
 * The product itself needs no Go; only tests and benchmarks use what this builds.
 */
export interface GoBuild {
  /** the folder under test/ holding go.mod, go.sum and tools.go */
  moduleDir: string;
  /** shown in progress lines and used in .tools/ */
  name: string;
  /** the pinned release, part of the cache key */
  version: string;
  /** package paths to build; each gives one binary named after its last element */
  packages: ReadonlyArray<{ pkg: string; binary: string }>;
  /** what a cold build costs, for the progress line */
  coldEstimate: string;
}

export class GoMissingError extends Error {
  constructor() {
    super(
      'Go is not installed (or not on PATH). The test bed builds its Kubernetes control plane from the Go ' +
        'module proxy with Go 1.26 or newer; install Go from your package manager or go.dev. ' +
        'The product itself needs no Go, and `npm test` falls back to kube-sim without it.',
    );
    this.name = 'GoMissingError';
  }
}

/** The go binary, or null where Go is absent. */
export function goBinary(): string | null {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    const r = spawnSync(candidate, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}

/** Where the binaries of this build live (whether built yet or not). */
export function buildDir(b: GoBuild): string {
  const sum = readFileSync(path.join(b.moduleDir, 'go.sum'));
  const key = `${b.version}-${createHash('sha256').update(sum).digest('hex').slice(0, 12)}`;
  return path.join(ROOT, '.tools', b.name, key);
}

/** True when every binary of the build is already there. */
export function isBuilt(b: GoBuild): boolean {
  const dir = buildDir(b);
  return b.packages.every((p) => existsSync(path.join(dir, p.binary)));
}

/**
 * Builds (or finds) the binaries; returns their folder. Progress goes to `log` as the Go tool
 * compiles packages (`go build -v` names each one), so that a cold build of several minutes shows it
 * is moving.
 */
export async function ensureBuilt(b: GoBuild, log: (line: string) => void): Promise<string> {
  const dir = buildDir(b);
  if (isBuilt(b)) return dir;
  const go = goBinary();
  if (go === null) throw new GoMissingError();
  log(
    `${b.name}: building ${b.packages.map((p) => p.binary).join(', ')} (${b.version}) from the Go module proxy ` +
      `into ${path.relative(ROOT, dir)}; a cold build takes ${b.coldEstimate}, later runs reuse it`,
  );
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const t0 = Date.now();
  let compiled = 0;
  let lastReport = t0;
  const stderr: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(
      go,
      ['build', '-v', '-trimpath', '-ldflags=-s -w', '-o', partial, ...b.packages.map((p) => p.pkg)],
      {
        cwd: b.moduleDir,
        // The machine's own Go; the module's go line (1.26) is what it must satisfy.
        env: { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let rest = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        // -v names packages as they compile; anything else is a message worth keeping.
        if (/^[\w.-]+(\.[\w-]+)*(\/[\w.~+-]+)*$/.test(line)) compiled++;
        else if (line.trim() !== '') stderr.push(line);
      }
      const now = Date.now();
      if (now - lastReport >= 20_000) {
        lastReport = now;
        log(`${b.name}: ${compiled} packages compiled, ${Math.round((now - t0) / 1000)} s`);
      }
    });
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`${b.name}: go build failed (exit ${code}):\n${stderr.slice(-30).join('\n')}`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  renameSync(partial, dir);
  const seconds = Math.round((Date.now() - t0) / 1000);
  writeFileSync(
    path.join(dir, 'build.json'),
    JSON.stringify({ version: b.version, seconds, packages: compiled, at: new Date().toISOString() }),
  );
  log(
    `${b.name}: built in ${seconds} s (${compiled === 0 ? "every package from Go's build cache, linked" : `${compiled} packages compiled`})`,
  );
  return dir;
}
