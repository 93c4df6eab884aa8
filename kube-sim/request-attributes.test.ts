import { describe, expect, it } from 'vitest';
import { attributesOf } from './request-attributes.js';
import { RESOURCES, type ResourceKind } from './resources.js';

const secrets = RESOURCES.find((r) => r.plural === 'secrets') as ResourceKind;
const q = (s = '') => new URLSearchParams(s);

describe('request attributes', () => {
  it.each([
    ['GET', 'x', '', 'get'],
    ['GET', undefined, '', 'list'],
    ['GET', undefined, 'watch=true', 'watch'],
    ['GET', undefined, 'watch=1', 'watch'],
    ['POST', undefined, '', 'create'],
    ['PUT', 'x', '', 'update'],
    ['PATCH', 'x', '', 'patch'],
    ['DELETE', 'x', '', 'delete'],
    ['DELETE', undefined, '', 'deletecollection'],
  ])('%s %s?%s is %s', (method, name, query, verb) => {
    const t = { r: secrets, namespace: 'ns', ...(name === undefined ? {} : { name }) };
    expect(attributesOf(method, t, q(query)).verb).toBe(verb);
  });

  it('names the object a list or watch selects by metadata.name, as RequestInfo does', () => {
    const t = { r: secrets, namespace: 'ns' };
    expect(attributesOf('GET', t, q('watch=true&fieldSelector=metadata.name%3Dcreds')).name).toBe('creds');
    expect(attributesOf('GET', t, q('fieldSelector=type%3DOpaque,metadata.name%3D%3Dcreds')).name).toBe(
      'creds',
    );
    expect(attributesOf('GET', t, q('fieldSelector=type%3DOpaque')).name).toBeUndefined();
  });
});
