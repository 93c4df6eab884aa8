import { describe, expect, it } from 'vitest';
import { NOTHING_SENT, OriginError, originError } from './origin-error.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('origin errors', () => {
  it('names every failure by what it means and when it happened, whichever library met it', () => {
    expect(originError(errno('ECONNREFUSED'), false)).toMatchObject({
      code: 'ORIGIN_REFUSED',
      phase: 'connect',
    });
    expect(originError(errno('UND_ERR_CONNECT_TIMEOUT'), false)).toMatchObject({
      code: 'ORIGIN_CONNECT_TIMEOUT',
      phase: 'connect',
    });
    expect(originError(errno('ECONNRESET'), false)).toMatchObject({
      code: 'ORIGIN_CLOSED',
      phase: 'before-response',
    });
    expect(originError(errno('ECONNRESET'), true)).toMatchObject({
      code: 'ORIGIN_CLOSED',
      phase: 'mid-body',
    });
    expect(originError(errno('DEPTH_ZERO_SELF_SIGNED_CERT'), false)).toMatchObject({ code: 'ORIGIN_TLS' });
    expect(originError(errno('UND_ERR_HEADERS_TIMEOUT'), false).code).toBe('ORIGIN_HEADERS_TIMEOUT');
    expect(originError(new Error('strange'), false)).toMatchObject({
      code: 'ORIGIN_FAILED',
      source: 'origin',
    });
  });

  it('keeps the cause, and moves an early failure to mid-body once the response started', () => {
    const cause = errno('EPIPE');
    const e = originError(cause, false);
    expect(e.cause).toBe(cause);
    const own = new OriginError('ORIGIN_CONNECT_TIMEOUT', 'connect', 'slow');
    expect(originError(own, false)).toBe(own);
    expect(originError(own, true).phase).toBe('mid-body');
  });

  it('lets only failures that sent nothing go to another endpoint with any body', () => {
    expect([...NOTHING_SENT].sort()).toEqual([
      'ORIGIN_CONNECT_TIMEOUT',
      'ORIGIN_REFUSED',
      'ORIGIN_UNREACHABLE',
    ]);
    expect(NOTHING_SENT.has(originError(errno('DEPTH_ZERO_SELF_SIGNED_CERT'), false).code)).toBe(false);
  });
});
