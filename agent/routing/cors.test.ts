import { describe, expect, it } from 'vitest';
import { CorsPolicy, isPreflight, parseOriginPattern } from './cors.js';

const pairs = (flat: string[]) =>
  Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : [])));

describe('CORS', () => {
  it('matches origins by scheme, host (exact, wildcard to the left, any) and port', () => {
    const p = new CorsPolicy({
      origins: ['https://app.example.com', 'http://*.example.org', 'https://localhost:8443'],
      credentials: false,
      methods: [],
      headers: [],
      expose: [],
      maxAgeSeconds: 5,
    });
    expect(p.allows('https://app.example.com')).toBe(true);
    expect(p.allows('https://app.example.com:443')).toBe(true);
    expect(p.allows('https://app.example.com:8443')).toBe(false);
    expect(p.allows('http://app.example.com')).toBe(false);
    expect(p.allows('http://a.b.example.org')).toBe(true);
    expect(p.allows('http://example.org')).toBe(false);
    expect(p.allows('http://evil-example.org')).toBe(false);
    expect(p.allows('https://localhost:8443')).toBe(true);
    expect(p.allows('null')).toBe(false);
    expect(p.allows('https://*.example.com')).toBe(false);
    expect(parseOriginPattern('ftp://x.test')).toBeNull();
    expect(parseOriginPattern('https://x.test/path')).toBeNull();
  });

  it('answers a preflight with the configured lists, echoing rather than "*" when credentials are allowed', () => {
    const listed = new CorsPolicy({
      origins: ['https://app.test'],
      credentials: false,
      methods: ['GET', 'PUT'],
      headers: ['x-token', 'content-type'],
      expose: ['x-trace'],
      maxAgeSeconds: 600,
    });
    const ask = { 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-token' };
    expect(pairs(listed.preflight('https://app.test', ask))).toEqual({
      Vary: 'Origin',
      'Access-Control-Allow-Origin': 'https://app.test',
      'Access-Control-Allow-Methods': 'GET, PUT',
      'Access-Control-Allow-Headers': 'x-token, content-type',
      'Access-Control-Max-Age': '600',
    });
    // An origin not allowed: no CORS headers, so the browser refuses.
    expect(listed.preflight('https://other.test', ask)).toEqual(['Vary', 'Origin']);

    const open = { origins: '*', methods: '*', headers: '*', expose: '*', maxAgeSeconds: 5 } as const;
    const anyone = new CorsPolicy({ ...open, credentials: false });
    expect(pairs(anyone.preflight('https://x.test', ask))).toMatchObject({
      'Access-Control-Allow-Methods': '*',
      'Access-Control-Allow-Headers': '*',
    });
    const withCredentials = new CorsPolicy({ ...open, credentials: true });
    expect(pairs(withCredentials.preflight('https://x.test', ask))).toEqual({
      Vary: 'Origin',
      'Access-Control-Allow-Origin': 'https://x.test',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Allow-Methods': 'PUT',
      'Access-Control-Allow-Headers': 'x-token',
      'Access-Control-Max-Age': '5',
    });
    expect(withCredentials.response('https://x.test').set).toEqual([
      ['access-control-allow-origin', 'https://x.test'],
      ['access-control-allow-credentials', 'true'],
    ]);
    expect(anyone.response('https://x.test').set).toContainEqual(['access-control-expose-headers', '*']);
    expect(listed.response('https://other.test')).toEqual({ set: [], add: [['vary', 'Origin']], remove: [] });
    expect(isPreflight('OPTIONS', ask)).toBe(true);
    expect(isPreflight('OPTIONS', {})).toBe(false);
  });
});
