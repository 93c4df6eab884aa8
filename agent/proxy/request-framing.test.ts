import type { IncomingHttpHeaders } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { framingProblem } from './request-framing.js';

describe('request framing', () => {
  it('passes sound requests, including a length said twice alike', () => {
    expect(framingProblem({ ':method': 'POST', 'content-length': '5', 'x-a': 'b' })).toBeNull();
    expect(framingProblem({ 'content-length': '5, 5' })).toBeNull();
    expect(framingProblem({ 'content-length': ['7', '7'] } as unknown as IncomingHttpHeaders)).toBeNull();
    expect(framingProblem({ 'transfer-encoding': 'chunked' })).toBeNull();
    expect(framingProblem({ cookie: ['a=1', 'b=2'] } as unknown as IncomingHttpHeaders)).toBeNull();
  });

  it.each([
    [{ 'content-length': '5', 'transfer-encoding': 'chunked' }, 'both Content-Length and Transfer-Encoding'],
    [{ 'content-length': ['5', '6'] }, 'two different Content-Length values'],
    [{ 'content-length': '5, 6' }, 'two different Content-Length values'],
    [{ 'content-length': '-1' }, 'is not a number'],
    [{ 'content-length': '0x10' }, 'is not a number'],
    [{ 'x-folded': 'a\r\n b' }, 'x-folded header holds CR, LF or NUL'],
    [{ 'x-injected': 'a\nContent-Length: 0' }, 'x-injected header holds CR, LF or NUL'],
    [{ cookie: ['a=1', 'b=2\r\nx: y'] }, 'cookie header holds'],
    [{ 'x-nul': 'a\0b' }, 'x-nul header holds'],
  ])('refuses %o', (headers, says) => {
    expect(framingProblem(headers as unknown as IncomingHttpHeaders)).toContain(says);
  });
});
