import { describe, expect, it } from 'vitest';
import { ApiFaults, RateLimiter } from './api-faults.js';

describe('RateLimiter', () => {
  it('allows N calls per window per key, then says how long to wait', () => {
    const l = new RateLimiter(3, 10_000);
    expect([0, 1, 2].map((i) => l.check('a', 1000 + i))).toEqual([null, null, null]);
    expect(l.check('a', 1500)).toBe(10);
    expect(l.check('b', 1500)).toBeNull();
    expect(l.check('a', 11_001)).toBeNull(); // the first call left the window
    expect(new RateLimiter(0).check('a')).toBeNull();
  });
});

describe('ApiFaults', () => {
  it('answers the next count calls, then stops', () => {
    const f = new ApiFaults();
    expect(f.take()).toBeNull();
    f.set({ status: 429, count: 2, retryAfterS: 7 });
    expect(f.take()).toEqual({ status: 429, retryAfterS: 7, delayMs: 0, garbage: false, truncate: false });
    expect(f.take()?.status).toBe(429);
    expect(f.take()).toBeNull();
    expect(() => f.set({ status: 200 })).toThrow(/4xx or 5xx/);
  });
});
