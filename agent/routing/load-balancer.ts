import { createHash } from 'node:crypto';
import type http2 from 'node:http2';

/**
 * How a Service's requests are spread over its endpoints, chosen per Service with the annotation
 * `tunnel-ingress.dev/load-balance`:
 *  - `round-robin` (default);
 *  - `least-request`: the power of two choices, two random endpoints, the one with fewer in flight;
 *  - `hash:header:NAME`, `hash:cookie:NAME`, `hash:client-ip`: Maglev consistent hashing (a lookup
 *    table of 65,537 entries, rebuilt when the endpoints change), so a key keeps its endpoint and about
 *    1/N of keys move when one of N endpoints leaves. A request without the key falls back to
 *    round-robin.
 */
export type Policy =
  | { kind: 'round-robin' }
  | { kind: 'least-request' }
  | { kind: 'hash'; source: 'header' | 'cookie' | 'client-ip'; name: string };

export const LOAD_BALANCE_ANNOTATION = 'tunnel-ingress.dev/load-balance';
export const ROUND_ROBIN: Policy = { kind: 'round-robin' };

/** Null for a value that is not a policy (the caller reports it and uses round-robin). */
export function parsePolicy(value: string): Policy | null {
  const v = value.trim();
  if (v === 'round-robin') return ROUND_ROBIN;
  if (v === 'least-request') return { kind: 'least-request' };
  if (v === 'hash:client-ip') return { kind: 'hash', source: 'client-ip', name: 'cf-connecting-ip' };
  const m = /^hash:(header|cookie):([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/.exec(v);
  if (m === null) return null;
  return {
    kind: 'hash',
    source: m[1] as 'header' | 'cookie',
    name: m[1] === 'header' ? (m[2] as string).toLowerCase() : (m[2] as string),
  };
}

export function describePolicy(p: Policy): string {
  return p.kind === 'hash'
    ? p.source === 'client-ip'
      ? 'hash:client-ip'
      : `hash:${p.source}:${p.name}`
    : p.kind;
}

/** The hash key of a request under a hash policy, or undefined when it has none. */
export function hashKey(p: Policy, headers: http2.IncomingHttpHeaders | undefined): string | undefined {
  if (p.kind !== 'hash' || headers === undefined) return undefined;
  if (p.source === 'client-ip' || p.source === 'header') {
    const v = headers[p.name];
    return Array.isArray(v) ? v[0] : v;
  }
  const raw = headers.cookie;
  const cookies = Array.isArray(raw) ? raw.join('; ') : raw;
  if (cookies === undefined) return undefined;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === p.name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export const MAGLEV_SIZE = 65537; // prime, as Maglev requires

function h64(s: string, seed: string): bigint {
  return createHash('sha256').update(seed).update(s).digest().readBigUInt64BE(0);
}

/** Maglev's lookup table: entry → endpoint index (Eisenbud et al., NSDI 2016, algorithm 1). */
export function maglevTable(names: readonly string[], size = MAGLEV_SIZE): Int32Array {
  const n = names.length;
  const table = new Int32Array(size).fill(-1);
  if (n === 0) return table;
  const M = BigInt(size);
  const offset = names.map((nm) => Number(h64(nm, 'offset') % M));
  const skip = names.map((nm) => Number(h64(nm, 'skip') % (M - 1n)) + 1);
  const next = new Array<number>(n).fill(0);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = (offset[i] as number) + (next[i] as number) * (skip[i] as number);
      c %= size;
      while (table[c] !== -1) {
        next[i] = (next[i] as number) + 1;
        c = ((offset[i] as number) + (next[i] as number) * (skip[i] as number)) % size;
      }
      table[c] = i;
      next[i] = (next[i] as number) + 1;
      if (++filled === size) return table;
    }
  }
}

/** FNV-1a, 32 bits: cheap enough for every request, spread well enough for a 65,537-entry table. */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
