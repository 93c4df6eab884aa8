/**
 * One object in the edge cache: the response as visitors get it (status, headers without the ones
 * the edge strips, body), when it was stored, how long it stays fresh, and what a purge matches it by.
 */
export interface CachedObject {
  key: string;
  /** lower case */
  host: string;
  /** host + path + query, as purge by URL and by prefix see it (no scheme) */
  url: string;
  /** the request headers that are part of the key (Origin), lower-case names */
  keyHeaders: Readonly<Record<string, string>>;
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  /** lower case */
  tags: readonly string[];
  /** ms; Age counts from here, and restarts on revalidation */
  storedAt: number;
  freshUntil: number;
  revalidateAlways: boolean;
  swrMs: number;
  sieMs: number;
  etag: string | null;
  lastModified: string | null;
}

/** What `POST /zones/:zone/purge_cache` asks to remove, already checked. */
export type PurgeSelector =
  | { everything: true }
  | { files: Array<{ url: string; headers: Record<string, string> }> }
  | { hosts: string[] }
  | { prefixes: string[] }
  | { tags: string[] };

/** The URL a purge names, as the cache stores it: no scheme, host lower case, path as given. */
export function purgeUrl(url: string): string {
  const noScheme = url.replace(/^https?:\/\//i, '');
  const slash = noScheme.indexOf('/');
  const host = (slash < 0 ? noScheme : noScheme.slice(0, slash)).toLowerCase();
  return host + (slash < 0 ? '/' : noScheme.slice(slash));
}

const OVERHEAD = 512;

/**
 * The edge's cache: objects by key, evicted least recently used first once their bytes (bodies,
 * headers and a fixed overhead each) pass `maxBytes`, as Cloudflare evicts by LRU and retention
 * cannot be set (§1). Objects whose response varied on Accept-Encoding are stored per encoding class
 * under their base key's variants.
 */
export class EdgeCache {
  private readonly objects = new Map<string, CachedObject>();
  /** base keys whose objects vary by Accept-Encoding, with how many variants are stored */
  private readonly varying = new Map<string, number>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** The largest object stored: a quarter of the cache (Cloudflare's 512 MB limit is far above it here). */
  get maxObjectBytes(): number {
    return Math.floor(this.maxBytes / 4);
  }

  get size(): number {
    return this.objects.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  /** The key to look up: the base key, or its variant for this encoding class when it varies. */
  lookupKey(base: string, encoding: string): string {
    return this.varying.has(base) ? `${base}|ae=${encoding}` : base;
  }

  get(key: string): CachedObject | undefined {
    const o = this.objects.get(key);
    if (o !== undefined) {
      // LRU: the most recently used goes to the end of the insertion order.
      this.objects.delete(key);
      this.objects.set(key, o);
    }
    return o;
  }

  /** Stores an object under its key (a variant key when it varies by encoding); evicts to fit. */
  set(o: CachedObject, base: string, variesByEncoding: boolean): void {
    const size = sizeOf(o);
    if (size > this.maxObjectBytes) return;
    if (variesByEncoding && o.key !== base) {
      if (!this.varying.has(base)) this.remove(base);
      if (!this.objects.has(o.key)) this.varying.set(base, (this.varying.get(base) ?? 0) + 1);
    } else if (this.varying.has(base)) {
      // It no longer varies: its variants go.
      for (const [k, old] of this.objects) if (k.startsWith(`${base}|ae=`)) this.remove(k, old);
    }
    this.remove(o.key);
    this.objects.set(o.key, o);
    this.bytes += size;
    for (const [k, old] of this.objects) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(k, old);
    }
  }

  /** Removes what the selector matches among the objects `within` takes (a zone's); returns how many went. */
  purge(sel: PurgeSelector, within: (o: CachedObject) => boolean = () => true): number {
    let match: (o: CachedObject) => boolean;
    if ('everything' in sel) match = () => true;
    else if ('hosts' in sel) {
      const hosts = new Set(sel.hosts.map((h) => h.toLowerCase()));
      match = (o) => hosts.has(o.host);
    } else if ('prefixes' in sel) {
      const prefixes = sel.prefixes.map(purgeUrl);
      match = (o) => prefixes.some((p) => o.url.startsWith(p));
    } else if ('tags' in sel) {
      const tags = new Set(sel.tags.map((t) => t.toLowerCase()));
      match = (o) => o.tags.some((t) => tags.has(t));
    } else {
      const files = sel.files.map((f) => ({ url: purgeUrl(f.url), headers: lowerKeys(f.headers) }));
      match = (o) => files.some((f) => f.url === o.url && sameHeaders(o.keyHeaders, f.headers));
    }
    let n = 0;
    for (const [k, o] of this.objects)
      if (within(o) && match(o)) {
        this.remove(k, o);
        n++;
      }
    return n;
  }

  private remove(key: string, o = this.objects.get(key)): void {
    if (o === undefined) return;
    this.objects.delete(key);
    this.bytes -= sizeOf(o);
    const bar = key.indexOf('|ae=');
    if (bar >= 0) {
      const base = key.slice(0, bar);
      const left = (this.varying.get(base) ?? 1) - 1;
      if (left <= 0) this.varying.delete(base);
      else this.varying.set(base, left);
    }
  }
}

function sizeOf(o: CachedObject): number {
  let n = o.body.length + OVERHEAD + o.key.length;
  for (const [k, v] of o.headers) n += k.length + v.length;
  return n;
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

/** A file purge with headers matches only the objects whose key holds those same header values. */
function sameHeaders(
  stored: Readonly<Record<string, string>>,
  given: Readonly<Record<string, string>>,
): boolean {
  const a = Object.keys(stored);
  if (a.length !== Object.keys(given).length) return false;
  return a.every((k) => given[k] === stored[k]);
}
