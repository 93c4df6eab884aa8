import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PathRefusal, normalizeRequestPath } from './request-path.js';

const refused = (p: string) => {
  const r = normalizeRequestPath(p);
  return r instanceof PathRefusal ? r.reason : `not refused: ${r}`;
};

describe('normalizeRequestPath', () => {
  it.each([
    ['/api/users?x=1', '/api/users?x=1'],
    ['/', '/'],
    ['/api/../admin/secret.txt', '/admin/secret.txt'],
    ['/api/%2e%2e/admin/secret.txt', '/admin/secret.txt'],
    ['/api/%2E%2e/admin', '/admin'],
    ['/api/./x/', '/api/x/'],
    ['/api/x/..', '/api/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['//api///v1//x', '/api/v1/x'],
    ['//other.host/admin', '/other.host/admin'],
    ['/api/%7euser/%41', '/api/~user/A'],
    ['/files/a%2fb', '/files/a%2Fb'],
    ['/q/x?next=/../admin', '/q/x?next=/../admin'],
    ['/a/b/../../..', '/'],
    ['http://other.host/admin?x', '/admin?x'],
    ['https://app.test', '/'],
    ['http://app.test?x=1', '/?x=1'],
    ['/caf%C3%A9', '/caf%C3%A9'],
  ])('%s → %s', (input, want) => {
    expect(normalizeRequestPath(input)).toBe(want);
  });

  it.each([
    ['*', '"*"'],
    ['other.host:443', 'neither a path nor an absolute URL'],
    ['api/x', 'neither a path nor an absolute URL'],
    ['/api/..%2fadmin/secret.txt', 'encoded slash'],
    ['/api/..%2Fadmin', 'encoded slash'],
    ['/api/%2e%2e%2fadmin', 'encoded slash'],
    ['/api/..%5cadmin', 'encoded slash'],
    ['/api/..\\admin', 'backslash'],
    ['/api/%zz', 'malformed percent-encoding'],
    ['/api/%2', 'malformed percent-encoding'],
    ['/api/a b', 'control character'],
    ['/api/a\tb', 'control character'],
    ['/api/a#frag', 'fragment'],
  ])('refuses %s', (input, says) => {
    expect(refused(input)).toContain(says);
  });

  it('returns a path that needs nothing as the same string', () => {
    const p = '/api/v1/users/42?page=2';
    expect(normalizeRequestPath(p)).toBe(p);
  });

  it('never yields a dot-segment, a double slash or a path outside /', () => {
    const segment = fc.constantFrom('..', '.', '', 'a', '%2e', '%2E%2e', 'b.c', '%41', '...', '%2f', '%5C');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 12 }), fc.boolean(), (segs, query) => {
        const r = normalizeRequestPath('/' + segs.join('/') + (query ? '?a=../b' : ''));
        if (r instanceof PathRefusal) return;
        const path = r.split('?')[0] as string;
        expect(path.startsWith('/')).toBe(true);
        expect(path).not.toContain('//');
        for (const s of path.split('/')) {
          expect(s).not.toBe('.');
          expect(s).not.toBe('..');
        }
        // normalizing again changes nothing
        expect(normalizeRequestPath(r)).toBe(r);
      }),
      { numRuns: 2000 },
    );
  });
});
