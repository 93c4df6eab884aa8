/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded; HTTP/2 also
 * forbids them outright. Both the edge and the agent strip them, plus any name listed in Connection.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName);
}

/** Names a Connection header value lists, lower-cased; they are hop-by-hop for this message. */
export function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const joined = Array.isArray(value) ? value.join(',') : value;
  let out: Set<string> | null = null;
  for (const part of joined.split(',')) {
    const t = part.trim().toLowerCase();
    if (t.length === 0 || t === 'close' || t === 'keep-alive') continue;
    (out ??= new Set()).add(t);
  }
  return out;
}
