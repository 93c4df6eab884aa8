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

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64').replace(/=+$/, '');
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

/** Serializes [name, value] pairs; the caller passes one pair per value of a repeated header. */
export function packHeaders(pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i] as readonly [string, string];
    if (isTunnelInternalHeader(name.toLowerCase())) continue;
    if (out.length > 0) out += ';';
    out += b64(name) + ':' + b64(value);
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
