import type { IncomingHttpHeaders } from 'node:http2';
import { RESPONSE_HEADERS, RESPONSE_META, unpackHeaders } from '../tunnel/header-packing.js';
import { isHopByHop } from '../tunnel/hop-by-hop.js';

/**
 * A connector's answer head as the edge reads it: cloudflared's own report that the origin could not
 * be reached, headers that do not unpack, or the origin's status and headers without hop-by-hop ones
 * and those the edge sets itself (Server, CF-RAY, CF-Cache-Status).
 */
export type AnswerHead =
  | { kind: 'origin-unreachable' }
  | { kind: 'malformed' }
  | { kind: 'answer'; status: number; pairs: Array<[string, string]> };

export function readAnswerHead(h: IncomingHttpHeaders): AnswerHead {
  const meta = h[RESPONSE_META];
  if (typeof meta === 'string' && meta.includes('"cloudflared"')) return { kind: 'origin-unreachable' };
  let pairs: Array<[string, string]>;
  try {
    pairs = unpackHeaders(typeof h[RESPONSE_HEADERS] === 'string' ? (h[RESPONSE_HEADERS] as string) : '');
  } catch {
    return { kind: 'malformed' };
  }
  return {
    kind: 'answer',
    status: Number(h[':status']),
    pairs: pairs.filter(([k]) => {
      const lower = k.toLowerCase();
      return !isHopByHop(lower) && lower !== 'server' && lower !== 'cf-ray' && lower !== 'cf-cache-status';
    }),
  };
}

/**
 * Origin headers the edge reads and strips before the visitor: Cache-Tag and
 * Cloudflare-CDN-Cache-Control (../shared/cloudflare-cache.md §5, §11). Lower case.
 */
export const EDGE_ONLY: ReadonlySet<string> = new Set(['cache-tag', 'cloudflare-cdn-cache-control']);
