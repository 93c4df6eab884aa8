import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './processes.js';

/**
 * Which API server each test file used, so that `npm test` can say how many tests ran against the
 * real kube-apiserver and how many against kube-sim (test/run-all.ts).
 */
const DIR = path.join(ROOT, 'test-results', 'kube-targets');

export type TargetKind = 'kube-apiserver' | 'kube-sim';

export function recordTarget(kind: TargetKind): void {
  let file: string;
  try {
    file = expect.getState().testPath ?? 'unknown';
  } catch {
    return; // not under vitest (the benchmarks start API servers too): nothing to report
  }
  mkdirSync(DIR, { recursive: true });
  appendFileSync(path.join(DIR, `${process.pid}.jsonl`), `${JSON.stringify({ file, kind })}\n`);
}

export function resetTargets(): void {
  rmSync(DIR, { recursive: true, force: true });
}

/** Test files by the API servers they used. */
export function readTargets(): Map<string, Set<TargetKind>> {
  const out = new Map<string, Set<TargetKind>>();
  let names: string[] = [];
  try {
    names = readdirSync(DIR);
  } catch {
    return out;
  }
  for (const n of names)
    for (const line of readFileSync(path.join(DIR, n), 'utf8').split('\n')) {
      if (line === '') continue;
      const { file, kind } = JSON.parse(line) as { file: string; kind: TargetKind };
      let set = out.get(file);
      if (set === undefined) out.set(file, (set = new Set()));
      set.add(kind);
    }
  return out;
}
