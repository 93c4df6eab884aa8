import { describe, expect, it } from 'vitest';
import { LruMap } from './lru-map.js';

describe('LruMap', () => {
  it('keeps at most max entries, dropping the least recently used', () => {
    const m = new LruMap<string, number>(3);
    m.set('a', 1).set('b', 2).set('c', 3);
    expect(m.get('a')).toBe(1); // a is now the most recent
    m.set('d', 4);
    expect(m.size).toBe(3);
    expect(m.has('b')).toBe(false);
    expect([...m.keys()]).toEqual(['c', 'a', 'd']);
  });

  it('stays bounded whatever is written', () => {
    const m = new LruMap<number, number>(100);
    for (let i = 0; i < 100_000; i++) m.set(i, i);
    expect(m.size).toBe(100);
    expect(m.get(99_999)).toBe(99_999);
    expect(m.get(0)).toBeUndefined();
  });

  it('refuses a size that is not a positive whole number', () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});
