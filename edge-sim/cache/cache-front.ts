import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { EDGE_ONLY } from '../answer-head.js';
import type { EdgeConnection } from '../connection-registry.js';
import { rangeOf } from './byte-range.js';
import { cacheTags, decide, type StoreDecision } from './cache-policy.js';
import type { CachedObject, EdgeCache } from './edge-cache.js';
import { tunnelFetch, valuesOf, type Fetched } from './tunnel-fetch.js';

/** The CF-Cache-Status values edge-sim answers with (§10). */
export type CacheStatus =
  'HIT' | 'MISS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'BYPASS' | 'DYNAMIC';

/** One eligible visitor request, as the public listener hands it over. */
export interface CacheCall {
  method: string;
  headers: IncomingHttpHeaders;
  res: ServerResponse;
  /** lower case, no port */
  host: string;
  /** origin form, with the query string */
  path: string;
  ray: string;
  /** the request as it would go into the tunnel (the edge's headers added) */
  tunnelHeaders: OutgoingHttpHeaders;
  /** a connection of the host's tunnel, or null when none is registered now */
  pick(): EdgeConnection | null;
  /** the edge's error page (502 by default) */
  fail(): void;
}

/** Request headers that are part of Cloudflare's default cache key besides the URL (§7). */
const KEY_HEADERS = [
  'origin',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-forwarded-host',
  'x-host',
  'x-original-url',
  'x-rewrite-url',
  'forwarded',
];

/**
 * Origin headers the edge keeps out of the stored object: recomputed when served (Content-Length,
 * Age), never stored (Set-Cookie), or read by the edge alone (EDGE_ONLY). readAnswerHead() has
 * already dropped hop-by-hop ones and those the edge sets.
 */
const NOT_STORED: ReadonlySet<string> = new Set(['content-length', 'age', 'set-cookie', ...EDGE_ONLY]);
/** Visitor validators and ranges: the edge needs the whole object from the origin on a miss (§9). */
const NOT_FORWARDED_ON_MISS = [
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
];

/** The edge's answers that come from its own cache carry Age (§10). */
const FROM_CACHE: ReadonlySet<CacheStatus> = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED']);

function keyOf(
  host: string,
  path: string,
  headers: IncomingHttpHeaders,
): { base: string; keyHeaders: Record<string, string> } {
  let base = host + path;
  const keyHeaders: Record<string, string> = {};
  for (const name of KEY_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string') {
      base += `|${name}=${v}`;
      keyHeaders[name] = v;
    }
  }
  const scheme = headers['x-forwarded-scheme'];
  if (typeof scheme === 'string' && scheme !== 'http' && scheme !== 'https') {
    base += `|x-forwarded-scheme=${scheme}`;
    keyHeaders['x-forwarded-scheme'] = scheme;
  }
  return { base, keyHeaders };
}

function encodingClass(ae: string | string[] | undefined): string {
  const v = (Array.isArray(ae) ? ae.join(',') : (ae ?? '')).toLowerCase();
  return v.includes('br') ? 'br' : v.includes('gzip') ? 'gzip' : 'identity';
}

const httpDate = (ms: number) => new Date(ms).toUTCString();

/** What an origin answer stores: everything of a cached object but its key and what the key is made of. */
function stored(
  f: Fetched,
  body: Buffer,
  d: Extract<StoreDecision, { store: true }>,
  now: number,
): Omit<CachedObject, 'key' | 'host' | 'url' | 'keyHeaders'> {
  const values = valuesOf(f.pairs);
  return {
    status: f.status,
    headers: f.pairs.filter(([k]) => !NOT_STORED.has(k.toLowerCase())),
    body,
    tags: cacheTags(values('cache-tag')),
    storedAt: now,
    freshUntil: now + d.ttlMs,
    revalidateAlways: d.revalidateAlways,
    swrMs: d.swrMs,
    sieMs: d.sieMs,
    etag: values('etag')[0] ?? null,
    lastModified: values('last-modified')[0] ?? null,
  };
}
const weak = (etag: string) => etag.replace(/^W\//, '');

/**
 * Cloudflare's cache in front of the tunnel for eligible requests (../shared/cloudflare-cache.md):
 * fresh objects answered here (HIT), expired ones revalidated with the stored validators
 * (REVALIDATED on 304, EXPIRED on new content, STALE within stale-if-error when the origin fails,
 * UPDATING within stale-while-revalidate while a background revalidation runs), misses fetched whole
 * (GET, no visitor validators or Range) and stored when the origin's headers allow (MISS) or passed
 * on (BYPASS). Ranges and the visitor's validators are answered from the stored object.
 */
export class CacheFront {
  private readonly revalidating = new Set<string>();

  constructor(
    private readonly cache: EdgeCache,
    private readonly release: (conn: EdgeConnection) => void,
    private readonly log: Logger,
  ) {}

  async serve(c: CacheCall): Promise<void> {
    const { base, keyHeaders } = keyOf(c.host, c.path, c.headers);
    const encoding = encodingClass(c.headers['accept-encoding']);
    const key = this.cache.lookupKey(base, encoding);
    const now = Date.now();
    const o = this.cache.get(key);
    if (o !== undefined) {
      if (!o.revalidateAlways && now < o.freshUntil) return this.send(c, o, 'HIT');
      if (!o.revalidateAlways && o.swrMs > 0 && now < o.freshUntil + o.swrMs) {
        void this.refreshInBackground(c, o);
        return this.send(c, o, 'UPDATING');
      }
      return this.revalidate(c, o, base, encoding, keyHeaders);
    }
    return this.miss(c, base, encoding, keyHeaders);
  }

  private originHeaders(c: CacheCall, validators: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = { ...c.tunnelHeaders, ':method': 'GET', ...validators };
    for (const name of NOT_FORWARDED_ON_MISS) if (!(name in validators)) delete h[name];
    return h;
  }

  private fetch(c: CacheCall, headers: OutgoingHttpHeaders): Promise<Fetched> {
    const conn = c.pick();
    if (conn === null) return Promise.reject(new Error('no connection'));
    return tunnelFetch(conn, headers, this.release);
  }

  private async miss(
    c: CacheCall,
    base: string,
    encoding: string,
    keyHeaders: Record<string, string>,
  ): Promise<void> {
    let f: Fetched;
    try {
      f = await this.fetch(c, this.originHeaders(c));
    } catch {
      c.fail();
      return;
    }
    await this.answerFresh(c, f, 'MISS', base, encoding, keyHeaders);
  }

  /**
   * A full answer from the origin: stored and served from the store when its headers allow (the
   * visitor gets `status`), else passed on as it comes with BYPASS (or MISS for what is never stored).
   */
  private async answerFresh(
    c: CacheCall,
    f: Fetched,
    status: 'MISS' | 'EXPIRED',
    base: string,
    encoding: string,
    keyHeaders: Record<string, string>,
  ): Promise<void> {
    const now = Date.now();
    const values = valuesOf(f.pairs);
    const d = decide(f.status, values, c.headers.authorization !== undefined, now);
    if (!d.store) {
      this.pass(c, f, status === 'EXPIRED' && d.status === 'MISS' ? 'EXPIRED' : d.status);
      return;
    }
    const body = await this.collect(c, f, status);
    if (body === null) return;
    const varies = values('vary').some((v) => v.toLowerCase().includes('accept-encoding'));
    const o: CachedObject = {
      key: varies ? `${base}|ae=${encoding}` : base,
      host: c.host,
      url: c.host + c.path,
      keyHeaders,
      ...stored(f, body, d, now),
    };
    this.cache.set(o, base, varies);
    this.send(c, o, status);
  }

  /**
   * The whole body, up to the largest object the cache keeps. Past that it is not stored: what was
   * read goes to the visitor, then the rest as it comes (null: the answer is under way or failed).
   */
  private collect(c: CacheCall, f: Fetched, status: CacheStatus): Promise<Buffer | null> {
    const max = this.cache.maxObjectBytes;
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size <= max) {
          chunks.push(chunk);
          return;
        }
        f.body.off('data', onData);
        f.body.off('end', onEnd);
        f.body.pause();
        this.head(c, f.status, f.pairs, status, null);
        if (c.method !== 'HEAD') for (const b of chunks) c.res.write(b);
        f.body.unshift(chunk);
        this.pipeBody(c, f);
        resolve(null);
      };
      const onEnd = () => resolve(Buffer.concat(chunks, size));
      f.body.on('data', onData);
      f.body.once('end', onEnd);
      f.body.once('error', () => {
        c.fail();
        resolve(null);
      });
    });
  }

  /** An origin answer relayed as it comes, with the cache status. */
  private pass(c: CacheCall, f: Fetched, status: CacheStatus): void {
    this.head(c, f.status, f.pairs, status, null);
    this.pipeBody(c, f);
  }

  private pipeBody(c: CacheCall, f: Fetched): void {
    if (c.method === 'HEAD') {
      f.body.resume();
      f.body.once('end', () => c.res.end());
      return;
    }
    f.body.on('error', () => c.res.destroy());
    f.body.pipe(c.res);
  }

  private head(
    c: CacheCall,
    status: number,
    pairs: ReadonlyArray<readonly [string, string]>,
    cacheStatus: CacheStatus,
    extra: string[] | null,
  ): void {
    const flat: string[] = [];
    for (const [k, v] of pairs) if (!EDGE_ONLY.has(k.toLowerCase())) flat.push(k, v);
    if (extra !== null) flat.push(...extra);
    flat.push('CF-Cache-Status', cacheStatus, 'Server', 'cloudflare', 'CF-RAY', c.ray);
    try {
      (c.res as unknown as { writeHead(s: number, h: string[]): void }).writeHead(status, flat);
    } catch {
      c.res.destroy();
    }
  }

  /** An expired (or always-revalidated) object: asked of the origin with its validators. */
  private async revalidate(
    c: CacheCall,
    o: CachedObject,
    base: string,
    encoding: string,
    keyHeaders: Record<string, string>,
  ): Promise<void> {
    let f: Fetched;
    try {
      f = await this.fetch(c, this.originHeaders(c, this.validators(o)));
    } catch {
      if (Date.now() < o.freshUntil + o.sieMs) this.send(c, o, 'STALE');
      else c.fail();
      return;
    }
    if (f.status === 304) {
      f.body.resume();
      this.renew(o, f);
      this.send(c, o, 'REVALIDATED');
      return;
    }
    if (f.status >= 500 && Date.now() < o.freshUntil + o.sieMs) {
      f.body.resume();
      this.send(c, o, 'STALE');
      return;
    }
    await this.answerFresh(c, f, 'EXPIRED', base, encoding, keyHeaders);
  }

  /** stale-while-revalidate: one background revalidation per object at a time. */
  private async refreshInBackground(c: CacheCall, o: CachedObject): Promise<void> {
    if (this.revalidating.has(o.key)) return;
    this.revalidating.add(o.key);
    try {
      const f = await this.fetch(c, this.originHeaders(c, this.validators(o)));
      if (f.status === 304) {
        f.body.resume();
        this.renew(o, f);
        return;
      }
      const values = valuesOf(f.pairs);
      const d = decide(f.status, values, false, Date.now());
      const chunks: Buffer[] = [];
      for await (const chunk of f.body) chunks.push(chunk as Buffer);
      if (!d.store) return;
      Object.assign(o, stored(f, Buffer.concat(chunks), d, Date.now()));
    } catch (err) {
      this.log.debug({ key: o.key, err: (err as Error).message }, 'background revalidation failed');
    } finally {
      this.revalidating.delete(o.key);
    }
  }

  /**
   * The stored validators; without ETag or Last-Modified, the time it was stored (Smart Edge
   * Revalidation, §9).
   */
  private validators(o: CachedObject): OutgoingHttpHeaders {
    const v: OutgoingHttpHeaders = {};
    if (o.etag !== null) v['if-none-match'] = o.etag;
    v['if-modified-since'] = o.lastModified ?? httpDate(o.storedAt);
    return v;
  }

  /** A 304: the copy is fresh again for its TTL, and its Age restarts. */
  private renew(o: CachedObject, f: Fetched): void {
    const now = Date.now();
    const d = decide(200, valuesOf([...o.headers, ...f.pairs]), false, now);
    const ttl = d.store ? d.ttlMs : o.freshUntil - o.storedAt;
    o.storedAt = now;
    o.freshUntil = now + ttl;
  }

  /** An answer from a stored object: the visitor's validators, Range and HEAD honoured. */
  private send(c: CacheCall, o: CachedObject, status: CacheStatus): void {
    const now = Date.now();
    const extra: string[] = [];
    if (FROM_CACHE.has(status)) extra.push('Age', String(Math.max(0, Math.floor((now - o.storedAt) / 1000))));
    const lastModified = o.lastModified ?? httpDate(o.storedAt);
    const inm = c.headers['if-none-match'];
    const ims = c.headers['if-modified-since'];
    const notModified =
      o.status === 200 &&
      (typeof inm === 'string'
        ? o.etag !== null &&
          inm.split(',').some((t) => t.trim() === '*' || weak(t.trim()) === weak(o.etag as string))
        : typeof ims === 'string' && Date.parse(ims) >= Date.parse(lastModified));
    if (notModified) {
      const keep = o.headers.filter(([k]) =>
        /^(etag|cache-control|expires|last-modified|vary|content-location|date)$/i.test(k),
      );
      this.head(c, 304, keep, status, extra);
      c.res.end();
      return;
    }
    const size = o.body.length;
    const ifRange = c.headers['if-range'];
    const rangeHeader =
      c.method === 'GET' &&
      o.status === 200 &&
      (ifRange === undefined || ifRange === o.etag || ifRange === o.lastModified)
        ? c.headers.range
        : undefined;
    const r = rangeOf(rangeHeader, size);
    if (r.kind === 'unsatisfiable') {
      this.head(c, 416, [], status, [...extra, 'Content-Range', `bytes */${size}`, 'Content-Length', '0']);
      c.res.end();
      return;
    }
    const [start, end] = r.kind === 'partial' ? [r.start, r.end] : [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    extra.push('Content-Length', String(length));
    if (r.kind === 'partial') extra.push('Content-Range', `bytes ${start}-${end}/${size}`);
    this.head(c, r.kind === 'partial' ? 206 : o.status, o.headers, status, extra);
    if (c.method === 'HEAD' || length === 0) c.res.end();
    else c.res.end(r.kind === 'partial' ? o.body.subarray(start, end + 1) : o.body);
  }
}
