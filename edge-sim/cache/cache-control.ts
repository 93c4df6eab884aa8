/**
 * Cache-Control as Cloudflare's edge reads it (../shared/cloudflare-cache.md §3–§5): the directives
 * of one header, and which header counts for the edge. Cloudflare-CDN-Cache-Control wins over
 * CDN-Cache-Control, which wins over Cache-Control; with either CDN header, Cache-Control and Expires
 * no longer matter to the edge.
 */
export interface Directives {
  public: boolean;
  private: boolean;
  noStore: boolean;
  noCache: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  /** seconds; null when absent or malformed */
  maxAge: number | null;
  sMaxage: number | null;
  staleWhileRevalidate: number | null;
  staleIfError: number | null;
}

const SECONDS = /^\d{1,10}$/;

function seconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const v = value.replace(/^"|"$/g, '');
  return SECONDS.test(v) ? Number(v) : null;
}

/** The directives of one or more header values (repeated lines join with commas). */
export function parseDirectives(values: readonly string[]): Directives {
  const d: Directives = {
    public: false,
    private: false,
    noStore: false,
    noCache: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    maxAge: null,
    sMaxage: null,
    staleWhileRevalidate: null,
    staleIfError: null,
  };
  for (const value of values)
    for (const part of value.split(',')) {
      const eq = part.indexOf('=');
      const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const arg = eq < 0 ? undefined : part.slice(eq + 1).trim();
      switch (name) {
        case 'public':
          d.public = true;
          break;
        case 'private':
          d.private = true;
          break;
        case 'no-store':
          d.noStore = true;
          break;
        case 'no-cache':
          d.noCache = true;
          break;
        case 'must-revalidate':
          d.mustRevalidate = true;
          break;
        case 'proxy-revalidate':
          d.proxyRevalidate = true;
          break;
        case 'max-age':
          d.maxAge = seconds(arg);
          break;
        case 's-maxage':
          d.sMaxage = seconds(arg);
          break;
        case 'stale-while-revalidate':
          d.staleWhileRevalidate = seconds(arg);
          break;
        case 'stale-if-error':
          d.staleIfError = seconds(arg);
          break;
      }
    }
  return d;
}

/** The response's header values under a lower-case name. */
export type HeaderValues = (name: string) => string[];

/** The directives the edge obeys, and whether Expires may still count (no CDN header). */
export function edgeDirectives(values: HeaderValues): {
  directives: Directives;
  expiresCounts: boolean;
  cdn: boolean;
} {
  const cf = values('cloudflare-cdn-cache-control');
  if (cf.length > 0) return { directives: parseDirectives(cf), expiresCounts: false, cdn: true };
  const cdn = values('cdn-cache-control');
  if (cdn.length > 0) return { directives: parseDirectives(cdn), expiresCounts: false, cdn: true };
  return { directives: parseDirectives(values('cache-control')), expiresCounts: true, cdn: false };
}

/** An Expires date (RFC 9110's IMF-fixdate, as Cloudflare requires GMT) in ms, or null. */
export function expiresAt(value: string | undefined): number | null {
  if (value === undefined || !/GMT$/.test(value.trim())) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}
