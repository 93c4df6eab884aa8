import { edgeDirectives, expiresAt, type HeaderValues } from './cache-control.js';

/**
 * Cloudflare's default cacheable file extensions (../shared/cloudflare-cache.md §2): eligibility
 * goes by the URL path's extension, not the content type; HTML and JSON are not on the list.
 * Matched without case (the docs list them upper case and do not say).
 */
export const DEFAULT_EXTENSIONS: ReadonlySet<string> = new Set(
  (
    '7z apk avi avif bin bmp bz2 class css csv dmg doc docx ejs eot eps exe flac gif gz ico iso jar ' +
    'jpeg jpg js mid midi mkv mp3 mp4 ogg otf pdf pict pls png ppt pptx ps rar svg svgz swf tar tif ' +
    'tiff ttf webm webp woff woff2 xls xlsx zip zst'
  ).split(' '),
);

/** Whether a request may be answered from the cache at all: GET or HEAD, and a cacheable path. */
export function eligible(method: string, path: string, everything: boolean): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (everything) return true;
  const q = path.indexOf('?');
  const bare = q < 0 ? path : path.slice(0, q);
  const last = bare.slice(bare.lastIndexOf('/') + 1);
  if (last === 'robots.txt') return true;
  const dot = last.lastIndexOf('.');
  return dot > 0 && DEFAULT_EXTENSIONS.has(last.slice(dot + 1).toLowerCase());
}

/** Default edge TTLs by status for an eligible response with neither Cache-Control nor Expires (§3). */
const DEFAULT_TTL_S: ReadonlyMap<number, number> = new Map([
  [200, 7200],
  [206, 7200],
  [301, 7200],
  [302, 1200],
  [303, 1200],
  [404, 180],
  [410, 180],
]);

/** What the edge does with an eligible response from the origin. */
export type StoreDecision =
  | { store: false; status: 'BYPASS' | 'MISS' }
  | {
      store: true;
      ttlMs: number;
      /** stored, but asked of the origin again before each use (no-cache, max-age=0) */
      revalidateAlways: boolean;
      /** stale-while-revalidate window (0: none) */
      swrMs: number;
      /** stale-if-error window (0: none) */
      sieMs: number;
    };

/**
 * The edge's decision for an eligible response (Origin Cache Control on, as on every plan below
 * Enterprise; §4 and §6): `private`, `no-store`, `Set-Cookie`, `Vary: *`, or an `Authorization`d
 * request without `public`/`must-revalidate`/`s-maxage` → BYPASS; `no-cache` and a zero max-age →
 * stored and revalidated on every use (the OCC table; the docs' BYPASS list disagrees, §12.1);
 * `s-maxage`, then `max-age`, then `Expires`, then the default TTL of the status. A status without a
 * default TTL is not stored even with an explicit max-age (§12.5 leaves it open).
 */
export function decide(
  status: number,
  values: HeaderValues,
  authorized: boolean,
  now: number,
): StoreDecision {
  if (!DEFAULT_TTL_S.has(status)) return { store: false, status: 'MISS' };
  const vary = values('vary').join(',');
  if (vary.split(',').some((v) => v.trim() === '*')) return { store: false, status: 'BYPASS' };
  const { directives: d, expiresCounts } = edgeDirectives(values);
  if (d.private || d.noStore) return { store: false, status: 'BYPASS' };
  if (values('set-cookie').length > 0) return { store: false, status: 'BYPASS' };
  if (authorized && !d.public && !d.mustRevalidate && d.sMaxage === null)
    return { store: false, status: 'BYPASS' };
  let ttlS: number;
  if (d.sMaxage !== null) ttlS = d.sMaxage;
  else if (d.maxAge !== null) ttlS = d.maxAge;
  else {
    const expires = expiresCounts ? expiresAt(values('expires')[0]) : null;
    if (expires !== null) {
      if (expires <= now) return { store: false, status: 'BYPASS' };
      ttlS = Math.floor((expires - now) / 1000);
    } else ttlS = DEFAULT_TTL_S.get(status) as number;
  }
  const noStale = d.mustRevalidate || d.proxyRevalidate || d.sMaxage !== null || d.noCache;
  return {
    store: true,
    ttlMs: ttlS * 1000,
    revalidateAlways: d.noCache || ttlS === 0,
    swrMs: noStale ? 0 : (d.staleWhileRevalidate ?? 0) * 1000,
    sieMs: noStale || d.noStore ? 0 : (d.staleIfError ?? 0) * 1000,
  };
}

/** A response's Cache-Tag values: comma-separated, several lines allowed, case-insensitive (§11). */
export function cacheTags(values: readonly string[]): string[] {
  const out = new Set<string>();
  let bytes = 0;
  for (const v of values) {
    bytes += v.length;
    if (bytes > 16 * 1024) break;
    for (const t of v.split(',')) {
      const tag = t.trim().toLowerCase();
      if (tag !== '' && /^[\x21-\x7e]+$/.test(tag)) out.add(tag);
    }
  }
  return [...out];
}
