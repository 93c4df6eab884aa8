import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

describe('WorkQueue', () => {
  it('de-duplicates keys queued together', async () => {
    const seen: string[] = [];
    const q = new WorkQueue<string>(
      async (k) => {
        seen.push(k);
      },
      { id: (k) => k },
    );
    q.add('a');
    q.add('b');
    q.add('a');
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('runs a key again when it was added while running', async () => {
    let runs = 0;
    const q: WorkQueue<string> = new WorkQueue<string>(
      async () => {
        runs++;
        if (runs === 1) q.add('k');
      },
      { id: (k) => k },
    );
    q.add('k');
    await q.idle();
    await new Promise((r) => setTimeout(r, 10));
    await q.idle();
    expect(runs).toBe(2);
  });

  it('retries a failing key with growing delays and forgets it after a success', async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(
      async () => {
        times.push(Date.now());
        if (times.length < 4) throw new Error('not yet');
      },
      { id: (k: string) => k, baseMs: 20, maxMs: 1000, onError: (_k, _e, wait) => errors.push(wait) },
    );
    q.add('k');
    const deadline = Date.now() + 2000;
    while (times.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(errors).toEqual([20, 40, 80]);
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(75);
    await q.idle();
    expect(q.retries('k')).toBe(0);
  });

  it('runs other keys while one is slow, but never one key twice at once', async () => {
    const log: string[] = [];
    let releaseSlow: () => void = () => {};
    const slow = new Promise<void>((r) => (releaseSlow = r));
    let running = 0;
    let most = 0;
    const q: WorkQueue<{ kind: string; n: number }> = new WorkQueue(
      async (k) => {
        running++;
        most = Math.max(most, running);
        log.push(`start ${k.kind}`);
        if (k.kind === 'status') await slow;
        log.push(`end ${k.kind}`);
        running--;
      },
      { id: (k) => k.kind, workers: 4 },
    );
    q.add({ kind: 'status', n: 1 });
    q.add({ kind: 'endpoints', n: 1 });
    await new Promise((r) => setTimeout(r, 20));
    // The endpoint update finished while the status write still waits.
    expect(log).toEqual(['start status', 'start endpoints', 'end endpoints']);
    q.add({ kind: 'status', n: 2 });
    await new Promise((r) => setTimeout(r, 20));
    expect(log.filter((l) => l === 'start status')).toHaveLength(1);
    releaseSlow();
    await q.idle();
    await new Promise((r) => setTimeout(r, 10));
    await q.idle();
    expect(log.filter((l) => l === 'start status')).toHaveLength(2);
    expect(most).toBe(2);
  });
});
