import { describe, expect, it } from 'vitest';
import { PLAIN, originOptions, parseTimeout, type OriginProblem } from './origin-options.js';

const ing = (annotations: Record<string, string>) => ({
  metadata: { name: 'x', namespace: 'ns', annotations },
});

describe('origin options from annotations', () => {
  it('parses durations', () => {
    expect(parseTimeout('30s')).toBe(30_000);
    expect(parseTimeout('1m30s')).toBe(90_000);
    expect(parseTimeout('250ms')).toBe(250);
    expect(parseTimeout('5')).toBe(5000);
    for (const bad of ['', 'soon', '-1s', '2h', '0', '10 s']) expect(parseTimeout(bad)).toBeNull();
  });

  it('shares PLAIN and one key for identical settings, and reports invalid values', () => {
    const problems: OriginProblem[] = [];
    expect(originOptions(ing({}), () => undefined, problems)).toBe(PLAIN);
    const a = originOptions(
      ing({ 'tunnel-ingress.dev/response-header-timeout': '2s' }),
      () => undefined,
      problems,
    );
    const b = originOptions(
      ing({ 'tunnel-ingress.dev/response-header-timeout': '2000ms' }),
      () => undefined,
      problems,
    );
    expect(a.key).toBe(b.key);
    expect(a.headersTimeoutMs).toBe(2000);
    expect(problems).toEqual([]);
    const o = originOptions(
      ing({ 'tunnel-ingress.dev/connect-timeout': 'later', 'tunnel-ingress.dev/origin-sni': 'x.test' }),
      () => undefined,
      problems,
    );
    expect(o.connectTimeoutMs).toBeNull();
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining('connect-timeout: "later"'),
      expect.stringContaining('origin-sni has no effect without'),
    ]);
  });

  it('maps each backend-protocol to TLS and HTTP/2, case-insensitively, and refuses others', () => {
    const problems: OriginProblem[] = [];
    const of = (p: string) =>
      originOptions(ing({ 'tunnel-ingress.dev/backend-protocol': p }), () => undefined, problems);
    const seen = ['HTTP', 'https', 'H2C', 'grpc', 'GRPCS'].map((p) => {
      const o = of(p);
      return [o.protocol, o.tls, o.h2];
    });
    expect(seen).toEqual([
      ['HTTP', false, false],
      ['HTTPS', true, false],
      ['H2C', false, true],
      ['GRPC', false, true],
      ['GRPCS', true, true],
    ]);
    expect(new Set(['HTTP', 'HTTPS', 'H2C', 'GRPC', 'GRPCS'].map((p) => of(p).key)).size).toBe(5);
    expect(problems).toEqual([]);
    expect(of('SPDY')).toBe(PLAIN);
    expect(problems[0]?.message).toContain('"SPDY" is not one of HTTP, HTTPS, H2C, GRPC, GRPCS');
  });
});
