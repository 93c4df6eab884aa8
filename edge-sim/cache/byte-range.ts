/** What a Range header asks of a cached object (../shared/cloudflare-cache.md §8). */
export type RangeAnswer =
  { kind: 'whole' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const MAX_RANGES = 300;

/**
 * One `bytes=` range served from a complete cached object: a single satisfiable range is a 206 (an
 * end past the size clipped, a suffix longer than the object the whole object as 206); `bytes=`,
 * `bytes=-0`, reversed bounds and a start at or past the size are 416; a header that does not parse,
 * another unit, a number too large, or more than one range (overlapping or not: Cloudflare's
 * multipart answers need Origin Range Requests) gets the whole object as 200.
 */
export function rangeOf(header: string | undefined, size: number): RangeAnswer {
  if (header === undefined) return { kind: 'whole' };
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (m === null) return { kind: 'whole' };
  const spec = (m[1] as string).trim();
  if (spec === '') return { kind: 'unsatisfiable' };
  const parts = spec.split(',');
  if (parts.length > MAX_RANGES || parts.length > 1) return { kind: 'whole' };
  const r = /^(\d*)-(\d*)$/.exec((parts[0] as string).trim());
  if (r === null) return { kind: 'whole' };
  const [a, b] = [r[1] as string, r[2] as string];
  if (a.length > 15 || b.length > 15) return { kind: 'whole' };
  if (size === 0) return { kind: 'unsatisfiable' };
  if (a === '') {
    if (b === '') return { kind: 'whole' };
    const n = Number(b);
    if (n === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (start >= size) return { kind: 'unsatisfiable' };
  if (b === '') return { kind: 'partial', start, end: size - 1 };
  const end = Number(b);
  if (end < start) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}
