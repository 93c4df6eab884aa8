import type http2 from 'node:http2';
import { TunnelError } from './errors.js';

/**
 * Cf-Cloudflared-Response-Headers (spec §7): pairs b64(name):b64(value) joined by ';', standard alphabet
 * without padding. Names that belong to the tunnel itself are not serialized.
 */
export const RESPONSE_HEADERS = 'cf-cloudflared-response-headers';
export const RESPONSE_META = 'cf-cloudflared-response-meta';
export const PROXY_CONNECTION_UPGRADE = 'cf-cloudflared-proxy-connection-upgrade';
export const PROXY_SRC = 'cf-cloudflared-proxy-src';

export const META_ORIGIN = '{"src":"origin"}';
export const META_CLOUDFLARED = '{"src":"cloudflared"}';

/**
 * Header names and values as one flat list, name then value, one pair per value of a repeated
 * header: the shape undici and node:http hand over (rawHeaders), kept from the origin to the tunnel
 * so no step rebuilds it.
 */
export type HeaderList = readonly string[];

function b64(s: string): string {
  const e = Buffer.from(s, 'utf8').toString('base64');
  // Unpadded: at most two '=' at the end.
  const end =
    e.charCodeAt(e.length - 1) !== 61
      ? e.length
      : e.charCodeAt(e.length - 2) !== 61
        ? e.length - 1
        : e.length - 2;
  return end === e.length ? e : e.slice(0, end);
}

/** Names come from a small set (the origin's usual headers): each is encoded once. Bounded. */
const MAX_CACHED_NAMES = 4096;
const encodedNames = new Map<string, string | null>();

/** b64 of a name, or null for a tunnel-internal name (never serialized). */
function encodedName(name: string): string | null {
  let e = encodedNames.get(name);
  if (e === undefined) {
    e = isTunnelInternalHeader(name.toLowerCase()) ? null : b64(name);
    if (encodedNames.size >= MAX_CACHED_NAMES) encodedNames.clear();
    encodedNames.set(name, e);
  }
  return e;
}

/** True for names cloudflared keeps out of the serialized header (':', 'cf-int-', 'cf-cloudflared-', 'cf-proxy-'). */
export function isTunnelInternalHeader(lowerName: string): boolean {
  return (
    lowerName.startsWith(':') ||
    lowerName.startsWith('cf-int-') ||
    lowerName.startsWith('cf-cloudflared-') ||
    lowerName.startsWith('cf-proxy-')
  );
}

/** Serializes a header list (one pair per value of a repeated header). */
export function packHeaders(headers: HeaderList): string {
  let out = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = encodedName(headers[i] as string);
    if (name === null) continue;
    if (out.length > 0) out += ';';
    out += name + ':' + b64(headers[i + 1] as string);
  }
  return out;
}

const B64_RAW = /^[A-Za-z0-9+/]*$/;

function unb64(s: string): string {
  if (!B64_RAW.test(s) || s.length % 4 === 1) {
    throw new TunnelError('HEADER_PACKING_INVALID', 'serialized header is not unpadded base64', {
      source: 'origin',
    });
  }
  return Buffer.from(s, 'base64').toString('utf8');
}

/** Decodes Cf-Cloudflared-Response-Headers: split on ';', skip empty pieces, each exactly one ':'. */
export function unpackHeaders(value: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const piece of value.split(';')) {
    if (piece.length === 0) continue;
    const parts = piece.split(':');
    if (parts.length !== 2) {
      throw new TunnelError('HEADER_PACKING_INVALID', 'serialized header pair must have exactly one colon', {
        source: 'origin',
      });
    }
    out.push([unb64(parts[0] as string), unb64(parts[1] as string)]);
  }
  return out;
}

const canonicalNames = new Map<string, string>();

/** canonicalHeaderName, remembered: names come from a small set. Bounded. */
export function canonicalName(name: string): string {
  let c = canonicalNames.get(name);
  if (c === undefined) {
    c = canonicalHeaderName(name);
    if (canonicalNames.size >= MAX_CACHED_NAMES) canonicalNames.clear();
    canonicalNames.set(name, c);
  }
  return c;
}

/** Go's http.CanonicalHeaderKey: upper-case the first letter and every letter after '-'. */
export function canonicalHeaderName(name: string): string {
  let out = '';
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === '-';
  }
  return out;
}

/** A header list (trailers, or a trailers-only head) as native HTTP/2 headers: lower-case names, repeated ones as arrays. */
export function trailerHeaders(list: HeaderList): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const lower = (list[i] as string).toLowerCase();
    const value = list[i + 1] as string;
    if (lower.startsWith(':')) continue;
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [prev, value];
  }
  return out;
}
