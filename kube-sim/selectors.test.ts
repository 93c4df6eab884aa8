import { describe, expect, it } from 'vitest';
import { SelectorError, parseFieldSelector, parseLabelSelector } from './selectors.js';

const obj = (labels: Record<string, string>, name = 'n', namespace = 'default') => ({
  metadata: { name, namespace, labels },
});

describe('label selectors', () => {
  it.each([
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app in (web, api)', true],
    ['app notin (web)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=web,tier=front', true],
    ['app=web,tier in (back)', false],
    ['kubernetes.io/service-name=svc', false],
    ['', true],
  ])('%s → %s', (sel, want) => {
    expect(parseLabelSelector(sel)(obj({ app: 'web', tier: 'front' }))).toBe(want);
  });

  it('refuses nonsense', () => {
    expect(() => parseLabelSelector('a b c')).toThrow(SelectorError);
    expect(() => parseLabelSelector('-bad=1')).toThrow(SelectorError);
  });
});

describe('field selectors', () => {
  it('matches name and namespace, with negation', () => {
    expect(parseFieldSelector('metadata.name=n')(obj({}))).toBe(true);
    expect(parseFieldSelector('metadata.name=n,metadata.namespace!=default')(obj({}))).toBe(false);
    expect(parseFieldSelector('metadata.namespace==other')(obj({}))).toBe(false);
  });
});
