import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('draws from [0, base·2^n) with n capped, and resets', () => {
    const top = new Backoff(1000, 5, () => 0.999999);
    const waits = Array.from({ length: 8 }, () => top.next());
    expect(waits).toEqual([1999, 3999, 7999, 15999, 31999, 31999, 31999, 31999]);
    top.reset();
    expect(top.next()).toBe(1999);
    expect(new Backoff(1000, 5, () => 0).next()).toBe(0);
  });
});
