import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

describe('WorkQueue', () => {
  it('de-duplicates keys queued together', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => {
      seen.push(k);
    });
    q.add('a');
    q.add('b');
    q.add('a');
    await q.idle();
    expect(seen).toEqual(['a', 'b']);
  });

  it('runs a key again when it was added while running', async () => {
    let runs = 0;
    const q: WorkQueue = new WorkQueue(async () => {
      runs++;
      if (runs === 1) q.add('k');
    });
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
      { baseMs: 20, maxMs: 1000, onError: (_k, _e, wait) => errors.push(wait) },
    );
    q.add('k');
    const deadline = Date.now() + 2000;
    while (times.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(errors).toEqual([20, 40, 80]);
    expect(times[3]! - times[2]!).toBeGreaterThanOrEqual(75);
    await q.idle();
    expect(q.retries('k')).toBe(0);
  });
});
