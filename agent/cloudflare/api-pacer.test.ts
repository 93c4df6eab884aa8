import { describe, expect, it } from 'vitest';
import { ApiPacer, retryAfterMs } from './api-pacer.js';

function clock() {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

describe('ApiPacer', () => {
  it('starts at most `limit` calls per window, waiting for the window to slide', async () => {
    const c = clock();
    const p = new ApiPacer({ limit: 3, windowMs: 1000, now: c.now, sleep: c.sleep });
    const times: number[] = [];
    for (let i = 0; i < 7; i++) await p.run(async () => times.push(c.now()));
    expect(times).toEqual([0, 0, 0, 1000, 1000, 1000, 2000]);
    expect(p.calls).toBe(7);
  });

  it('pauses for Retry-After on a 429 and tries the same call again', async () => {
    const c = clock();
    const p = new ApiPacer({ limit: 100, now: c.now, sleep: c.sleep });
    let n = 0;
    const result = await p.run(async () => {
      n++;
      if (n < 3)
        throw Object.assign(new Error('limited'), {
          status: 429,
          headers: new Headers({ 'retry-after': '7' }),
        });
      return 'done';
    });
    expect(result).toBe('done');
    expect(c.slept).toEqual([7000, 7000]);
  });

  it('passes other failures on, and a 429 after max429 tries', async () => {
    const p = new ApiPacer({ max429: 1, sleep: async () => {} });
    await expect(
      p.run(async () => Promise.reject(Object.assign(new Error('x'), { status: 500 }))),
    ).rejects.toThrow('x');
    await expect(
      p.run(async () => Promise.reject(Object.assign(new Error('still'), { status: 429, headers: {} }))),
    ).rejects.toThrow('still');
    expect(retryAfterMs({ status: 429, headers: { 'retry-after': '9999' } })).toBe(300_000);
  });
});
